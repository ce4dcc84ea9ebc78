using MoltBeat.WebSocket.Auth;

namespace MoltBeat.WebSocket.Server;

/// <summary>What the server tells its event handlers and hooks about one connection.</summary>
/// <param name="Id">The connection's id, as sent in <c>connected.clientId</c>.</param>
/// <param name="User">The authenticated user; null when the server runs without authentication.</param>
/// <param name="RemoteAddress">The peer's address, when known.</param>
public sealed record WSClientInfo(string Id, WSUser? User, string? RemoteAddress);

/// <summary>Arguments of <see cref="MoltBeatWSServer.Connected"/>.</summary>
/// <param name="Client">The connection.</param>
public sealed class WSClientConnectedEventArgs(WSClientInfo Client) : EventArgs
{
    /// <summary>The connection.</summary>
    public WSClientInfo Client { get; } = Client;

    /// <summary>The connection's id (the seed's <c>client.id</c>).</summary>
    public string Id => Client.Id;
}

/// <summary>Arguments of <see cref="MoltBeatWSServer.Disconnected"/>.</summary>
/// <param name="Client">The connection.</param>
/// <param name="CloseCode">The close code of the connection, when one was exchanged.</param>
/// <param name="CloseReason">The close reason, when one was exchanged.</param>
public sealed class WSClientDisconnectedEventArgs(WSClientInfo Client, int? CloseCode, string? CloseReason) : EventArgs
{
    /// <summary>The connection.</summary>
    public WSClientInfo Client { get; } = Client;

    /// <summary>The connection's id (the seed's <c>client.id</c>).</summary>
    public string Id => Client.Id;

    /// <summary>The close code, when one was exchanged.</summary>
    public int? CloseCode { get; } = CloseCode;

    /// <summary>The close reason, when one was exchanged.</summary>
    public string? CloseReason { get; } = CloseReason;
}
