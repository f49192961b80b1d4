"""Labels back and out: validated imports appended once, votes resolved, weak labels, labels
exported for outside training."""
