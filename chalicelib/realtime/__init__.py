"""Live updates over WebSocket: connections, and the pusher that sends order, notification and import frames."""
