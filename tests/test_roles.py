"""Roles are data: the shipped YAML files load, and every mistake names the file and the key."""
import shutil

import pytest
import yaml

from user_roles import PAGES, RENDERINGS, RoleError, load_role, load_roles
from user_roles.roles import ROLES_DIR
from xai_core import list_methods

METHODS = {m.name: m for m in list_methods()}


def test_shipped_roles_load_and_fit_their_purpose():
    roles = load_roles()
    assert set(roles) >= {"operator", "analyst", "developer"}
    op, an, dev = roles["operator"], roles["analyst"], roles["developer"]
    assert op.max_cost == "cheap" and all(METHODS[m].cost == "cheap" for m in op.methods)
    assert op.overlay == "light" and not op.internals and "live" in op.pages
    assert {"integrated_gradients", "occlusion", "grad_cam"} <= set(an.methods) and "export" in an.renderings
    assert dev.internals and set(dev.methods) == set(METHODS) and "compare" in dev.pages
    for role in roles.values():
        assert role.allows(METHODS[role.default_method])


def _write(tmp_path, **changes):
    data = yaml.safe_load((ROLES_DIR / "analyst.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"pages": ["explain", "dream"]}, "key 'pages': unknown page 'dream'"),
    ({"methods": ["grad_cam", "lime9"]}, "key 'methods': unknown method 'lime9'"),
    ({"renderings": ["tube", "hologram"]}, "key 'renderings': unknown rendering 'hologram'"),
    ({"internals": "yes"}, "key 'internals' must be a bool"),
    ({"pages": "explain"}, "key 'pages' must be a list"),
    ({"title": None}, "missing key 'title'"),
    ({"max_cost": "cheap"}, "key 'default_method': 'integrated_gradients' costs moderate"),
    ({"default_method": "saliency"}, "'saliency' is not among the role's methods"),
    ({"summary": "{label} at {place}"}, "unknown placeholder {place}"),
    ({"overlay": "neon"}, "key 'overlay' must be one of light, full"),
    ({"pages": []}, "key 'pages' must list at least one"),
])
def test_broken_role_names_file_and_key(tmp_path, changes, message):
    with pytest.raises(RoleError, match=message.replace("{", r"\{").replace("}", r"\}").replace("(", r"\(")) as err:
        load_role(_write(tmp_path, **changes))
    assert str(err.value).startswith(str(tmp_path / "broken.yaml"))


def test_not_yaml_and_not_a_mapping(tmp_path):
    (tmp_path / "a.yaml").write_text("title: [unclosed\n")
    with pytest.raises(RoleError, match="a.yaml: not valid YAML"):
        load_role(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RoleError, match="b.yaml: a role file must be a mapping"):
        load_role(tmp_path / "b.yaml")


def test_a_new_role_is_a_new_file(tmp_path):
    for p in ROLES_DIR.glob("*.yaml"):
        shutil.copy(p, tmp_path)
    (tmp_path / "auditor.yaml").write_text(yaml.safe_dump({
        "title": "Auditor", "description": "Checks the model on ground truth.", "pages": ["compare"],
        "methods": ["occlusion", "grad_cam"], "default_method": "occlusion", "max_cost": "expensive",
        "renderings": ["ground_truth", "curve"]}))
    roles = load_roles(tmp_path)
    assert roles["auditor"].pages == ("compare",) and roles["auditor"].renderings == ("ground_truth", "curve")
    assert set(PAGES) >= set(roles["auditor"].pages) and set(RENDERINGS) >= set(roles["auditor"].renderings)
