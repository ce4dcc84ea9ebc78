using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    /// <summary>
    /// Every <see cref="MoltBeatWSClientOptions.HeartbeatInterval"/>: when nothing arrived since the previous ping
    /// the connection is dead (a half-open TCP connection never reports it by itself), so it is aborted and the
    /// reconnect logic takes over; otherwise another ping is sent.
    /// </summary>
    private void StartHeartbeat(Connection connection)
    {
        var interval = Options.HeartbeatInterval;
        connection.SetHeartbeat(_time.CreateTimer(static s =>
        {
            var (client, connection) = ((MoltBeatWSClient, Connection))s!;
            client.HeartbeatTick(connection);
        }, (this, connection), interval, interval));
    }

    private void HeartbeatTick(Connection connection)
    {
        var received = Interlocked.Read(ref connection.FramesReceived);
        if (connection.FramesAtPing >= 0 && received == connection.FramesAtPing)
        {
            _logger.HeartbeatTimeout(Options.HeartbeatInterval);
            connection.Abort($"no message within the heartbeat interval ({Options.HeartbeatInterval})");
            return;
        }
        connection.FramesAtPing = received;
        _ = SendPingAsync(connection);
    }

    private async Task SendPingAsync(Connection connection)
    {
        try
        {
            // The pong needs no bookkeeping: any frame received counts as a sign of life.
            var id = Interlocked.Increment(ref _nextId);
            await SendAsync(connection, Serialize(MessageTypes.Ping, id, null, null, null, subscribe: null), CancellationToken.None).ConfigureAwait(false);
        }
        catch (MoltBeatConnectionException)
        {
            // The receive loop reports the broken connection.
        }
    }
}
