"""Label Studio's labeling config: the XML that shows an item and offers the schema's labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

CONTROL = "label"  # the Choices tag: annotations' ``from_name``
OBJECT = "item"  # the Text tag the annotator reads: ``to_name``


def labeling_config(labels: list[str], display: str, control: str = CONTROL) -> str:
    """The labeling config: a header with the item id, the item as Text, one single choice.

    ``display`` is the task's data key shown to the annotator (``text`` or ``features``);
    ``control`` names the Choices tag (``vendor.label_field``).
    """
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        '  <Header value="Item $item_id"/>\n'
        f'  <Text name="{OBJECT}" value="${display}"/>\n'
        f'  <Choices name={quoteattr(control)} toName="{OBJECT}" choice="single-radio" '
        'showInline="true" required="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def config_choices(label_config: str, control: str = CONTROL) -> list[str]:
    """The choice values of our control in a project's labeling config."""
    root = ET.fromstring(label_config)
    for tag in root.iter("Choices"):
        if tag.get("name") == control:
            return [c.get("value", "") for c in tag.iter("Choice")]
    return []


def display_key(display_columns: list[str]) -> str:
    return "text" if display_columns == ["text"] else "features"
