"""What a client is shown of a user and of a login: never a password or its hash."""


def user(user) -> dict:
    return {"id": str(user.id), "username": user.username, "role": user.role,
            "display_name": user.display_name, "supervisor": user.supervisor,
            "provider_id": str(user.provider_id) if user.provider_id else None, "email": user.email,
            "email_notifications": user.email_notifications, "active": user.active,
            "password_change_required": user.password_change_required}


def listed_user(row: dict) -> dict:
    return {"id": str(row["user_id"]), "username": row["username"], "role": row["role"],
            "display_name": row["display_name"], "supervisor": row["supervisor"], "provider_id": row["provider_id"],
            "email": row["email"], "active": row["active"]}


def token(access_token: str, expires_in: int, refresh_token: str) -> dict:
    return {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in,
            "refresh_token": refresh_token}
