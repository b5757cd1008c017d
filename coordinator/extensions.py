"""Flask extensions, created here and wired in create_app (no app at import)."""

from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

socketio = SocketIO(async_mode="gevent")
login_manager = LoginManager()
csrf = CSRFProtect()
