"""Reading what an AppTest page sent, for tests that look for any text on it."""

from streamlit.testing.v1 import AppTest


def page_text(at: AppTest) -> str:
    """Every label, help text, option and paragraph the page sent, as one string."""
    texts, stack = [], [at.main, at.sidebar]  # AppTest's public blocks, walked down
    while stack:
        node = stack.pop()
        if getattr(node, "proto", None) is not None:
            texts.append(str(node.proto))
        stack.extend(getattr(node, "children", {}).values())
    return "\n".join(texts)
