"""Create a migrated Label Studio data dir with test users, in one process (run with the Label
Studio venv's python): ``seed.py DATA_DIR EMAIL:TOKEN [EMAIL:TOKEN ...]``.

The first user is the admin who creates the organization (legacy ``Token`` auth enabled); the
others join it as annotators. Starting a server on a copy of this folder then takes seconds
instead of a minute of migrations.
"""

import os
import sys
from pathlib import Path


def main() -> None:
    data_dir = Path(sys.argv[1]).resolve()
    users = [arg.split(":", 1) for arg in sys.argv[2:]]
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["LABEL_STUDIO_BASE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_DB", "sqlite")
    os.environ["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] = "true"
    from label_studio import server

    server._setup_env()
    server._apply_database_migrations()
    from organizations.models import Organization
    from rest_framework.authtoken.models import Token
    from users.models import User

    org = Organization.objects.first()
    for n, (email, token) in enumerate(users):
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=token + "-password")
            user.is_staff = user.is_superuser = n == 0
            user.save()
        Token.objects.filter(user=user).update(key=token)
        if org is None:
            org = Organization.create_organization(
                created_by=user, title="alflow tests", legacy_api_tokens_enabled=True
            )
        else:
            org.add_user(user)
        user.active_organization = org
        user.save(update_fields=["active_organization"])
    print(f"seeded {data_dir} with {len(users)} user(s)")


if __name__ == "__main__":
    main()
