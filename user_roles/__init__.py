"""Roles as data: one YAML file per role in this folder, validated strictly on load.

    from user_roles import load_roles
    roles = load_roles()            # {"analyst": Role(...), "developer": ..., "operator": ...}

A new role is a new YAML file and nothing else.
"""
from .roles import COSTS, PAGES, RENDERINGS, Role, RoleError, load_role, load_roles

__all__ = ["COSTS", "PAGES", "RENDERINGS", "Role", "RoleError", "load_role", "load_roles"]
