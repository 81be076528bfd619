"""Real-time activity: the RTA WebSocket (`/connect`) and the relay that feeds it
from the outbox. The contract is docs/realtime.md."""
