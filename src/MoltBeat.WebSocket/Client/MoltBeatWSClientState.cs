namespace MoltBeat.WebSocket.Client;

/// <summary>
/// The connection state of a <see cref="MoltBeatWSClient"/>. Allowed transitions:
/// Disconnected → Connecting → Connected → Reconnecting → Connected, and any state → Disconnected.
/// </summary>
public enum MoltBeatWSClientState
{
    /// <summary>Not connected and not trying to: before <see cref="MoltBeatWSClient.ConnectAsync"/>, after <see cref="MoltBeatWSClient.DisconnectAsync"/>, or after giving up.</summary>
    Disconnected,

    /// <summary><see cref="MoltBeatWSClient.ConnectAsync"/> is running.</summary>
    Connecting,

    /// <summary>The server sent <c>connected</c>; requests may be sent.</summary>
    Connected,

    /// <summary>The connection was lost and the client is re-establishing it.</summary>
    Reconnecting,
}
