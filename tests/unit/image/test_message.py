from __future__ import annotations

import pytest

from kidp_gitops.image import message
from kidp_gitops.image.setters import Change

CHANGES = [
    Change("apps/a.yaml", "ns:app", "r/app:1.0.0", "r/app:1.1.0"),
    Change("apps/b.yaml", "ns:app:tag", "1.0.0", "1.1.0"),
]


def test_default_message_names_the_automation_files_and_changes() -> None:
    text = message.render(None, "flux-system/promote", {}, CHANGES)
    assert text.startswith("Automated image update\n\nAutomation name: flux-system/promote\n")
    assert "- apps/a.yaml\n- apps/b.yaml\n" in text
    assert "- r/app:1.0.0 -> r/app:1.1.0\n" in text


def test_template_with_values_ranges_and_trimming() -> None:
    template = (
        "Promote to {{ .Values.env }} ({{ .AutomationObject }})\n\n"
        "{{ range .Changed.Changes -}}\n* {{ .File }}: {{ .NewValue }}\n{{ end -}}"
    )
    text = message.render(template, "ns/a", {"env": "production"}, CHANGES)
    assert text == (
        "Promote to production (ns/a)\n\n* apps/a.yaml: r/app:1.1.0\n* apps/b.yaml: 1.1.0\n"
    )


@pytest.mark.parametrize(
    "template", ["{{ .Unknown }}", "{{ range .Changed.Changes }}x", "x{{ end }}", "{{ if .X }}"]
)
def test_unsupported_templates_are_errors(template: str) -> None:
    with pytest.raises(message.TemplateError):
        message.render(template, "ns/a", {}, CHANGES)
