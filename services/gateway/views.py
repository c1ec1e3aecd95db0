"""What a client is shown of a user, an organisation and a login: never a password or its hash."""


def user(user) -> dict:
    return {"id": str(user.id), "username": user.username, "role": user.role,
            "display_name": user.display_name, "supervisor": user.supervisor,
            "provider_id": str(user.provider_id) if user.provider_id else None, "email": user.email,
            "email_notifications": user.email_notifications, "organisation": user.organisation}


def organisation(found) -> dict:
    return {"id": str(found.id), "name": found.name}


def organisations(rows: list[dict], next_cursor: int | None) -> dict:
    return {"items": [{"id": str(row["id"]), "name": row["name"]} for row in rows],
            "next_cursor": str(next_cursor) if next_cursor is not None else None}


def token(access_token: str, expires_in: int) -> dict:
    return {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in}
