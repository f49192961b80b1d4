"""A labeling round's life: opening it and recording its selection, the export, scheduling
guards, stopping rules, the control slice, replay."""
