"""What a client is shown of a user, an organisation and a login: never a password or its hash."""


def user(user) -> dict:
    return {"id": str(user.id), "username": user.username, "role": user.role,
            "display_name": user.display_name, "supervisor": user.supervisor,
            "provider_id": str(user.provider_id) if user.provider_id else None, "email": user.email,
            "email_notifications": user.email_notifications, "organisation": user.organisation,
            "active": user.active, "password_change_required": user.password_change_required}


def organisation(found) -> dict:
    return {"id": str(found.id), "name": found.name}


def organisations(rows: list[dict], next_cursor: str | None) -> dict:
    return {"items": [{"id": str(row["id"]), "name": row["name"]} for row in rows], "next_cursor": next_cursor}


def listed_user(row: dict) -> dict:
    return {"id": str(row["user_id"]), "username": row["username"], "role": row["role"],
            "display_name": row["display_name"], "supervisor": row["supervisor"], "provider_id": row["provider_id"],
            "email": row["email"], "active": row["active"],
            "organisation": str(row["organisation"]) if row.get("organisation") else None}


def team_member(user) -> dict:
    """What a supervisor is shown of a member of their team: whom to reassign a case to, nothing more."""
    return {"username": user.username, "display_name": user.display_name}


def token(access_token: str, expires_in: int, refresh_token: str) -> dict:
    return {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in,
            "refresh_token": refresh_token}
