"""chainrule in the browser: draw a digit and watch a network read it; watch training live.

    chainrule serve [MODEL.npz] [--port 8000] [--host 127.0.0.1]

or from Python::

    from chainrule.web import create_app, start_server_in_thread, LiveMetrics

The pages are plain HTML, CSS and JavaScript kept in this package (no CDN, no remote
fonts); they talk to the server through a small JSON API (see :mod:`.app`). Flask is
needed only to serve (``pip install 'chainrule[web]'``); LiveMetrics and the drawing
conversion are plain NumPy. The drawing page also runs backward passes and lets each
browser train its own copy of the network (see :mod:`.backward`, :mod:`.sessions`); a
second page shows the book's apple graph with inputs to edit (:mod:`.apple`). A
character-level language model gets the attention page instead of the drawing page:
the next character's probabilities and every head's attention over a prompt
(:mod:`.language`).
"""

from .app import (MAX_REQUEST_BYTES, STATIC_DIR, ModelHost, create_app,
                  start_server_in_thread, train_default_model)
from .apple import APPLE_DEFAULTS, apple_graph
from .backward import backward_view
from .bodies import MAX_DEPTH
from .sessions import SessionStore
from .drawing import DrawingError, drawing_to_mnist, parse_drawing, resize_area
from .metrics import LiveMetrics

__all__ = ["create_app", "start_server_in_thread", "train_default_model", "ModelHost",
           "LiveMetrics", "DrawingError", "drawing_to_mnist", "parse_drawing", "resize_area",
           "MAX_REQUEST_BYTES", "MAX_DEPTH", "STATIC_DIR", "apple_graph", "APPLE_DEFAULTS",
           "backward_view", "SessionStore"]
