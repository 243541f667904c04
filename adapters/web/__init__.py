"""The web chat: victims who cannot use Telegram or Slack talk to Haven in a browser."""

from adapters.web.adapter import WebAdapter
from adapters.web.intake import PLATFORM
from adapters.web.options import PushOptions, WebOptions

__all__ = ["PLATFORM", "PushOptions", "WebAdapter", "WebOptions"]
