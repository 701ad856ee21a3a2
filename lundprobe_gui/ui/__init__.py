"""lundprobe_gui.ui: the Qt side of the application.

The modes that take the main window over are registered here, so that the main window never
imports them (:mod:`lundprobe_gui.ui.modes`).
"""

from .modes import register_mode
from .review_mode import install_review_mode
from .study_mode import install_study_mode

register_mode(install_study_mode)  # Study menu and dock (reader-study sessions)
register_mode(install_review_mode)  # AI-review menu and dock
