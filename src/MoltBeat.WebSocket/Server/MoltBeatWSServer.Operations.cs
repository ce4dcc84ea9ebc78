namespace MoltBeat.WebSocket.Server;

public sealed partial class MoltBeatWSServer
{
    /// <summary>
    /// The clients of this node with the most waiting for them (bytes under the slow-consumer bound), most behind
    /// first: who is behind when a dashboard lags. A moment's view, read without stopping the fan-out.
    /// </summary>
    /// <param name="count">How many to return, at most.</param>
    public IReadOnlyList<WSClientBacklog> GetLaggingClients(int count = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return [.. Hub.All.Keys
            .Select(c => (Connection: c, Backlog: c.Backlog))
            .Where(c => c.Backlog.Messages > 0)
            .OrderByDescending(c => c.Backlog.Bytes)
            .Take(count)
            .Select(c => new WSClientBacklog(c.Connection.Info.Id, c.Connection.Info.User?.UserId, c.Backlog.Bytes, c.Backlog.Messages))];
    }
}

/// <summary>One client of <see cref="MoltBeatWSServer.GetLaggingClients"/>.</summary>
/// <param name="ClientId">The connection's id.</param>
/// <param name="UserId">Its user, when authenticated.</param>
/// <param name="QueuedBytes">Bytes waiting for it (closed with 4009 past <see cref="WSServerOptions.MaxQueuedBytes"/>).</param>
/// <param name="QueuedMessages">Messages waiting for it.</param>
public sealed record WSClientBacklog(string ClientId, string? UserId, long QueuedBytes, int QueuedMessages);
