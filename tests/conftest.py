# First thing, before anything imports socket or threading: nameko containers under plain
# pytest hang without it.
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
