using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    private enum RequestKind
    {
        /// <summary>A caller awaits the reply; an error reply fails its task.</summary>
        Awaited,

        /// <summary>Nobody awaits it; an error reply is raised through <see cref="Error"/>.</summary>
        FireAndForget,

        /// <summary>A resubscription after a reconnect; an error reply is raised through <see cref="Error"/>.</summary>
        Resubscribe,

        /// <summary>The replay of a new epoch from its start (<see cref="NewEpochCatchup"/>); its reply is not raised as <see cref="Subscribed"/>.</summary>
        Catchup,
    }

    private Connection RequireConnection()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            return _connection
                ?? throw new InvalidOperationException($"The client is not connected (state {_state}). Use Subscribe(room) to subscribe whenever the client connects.");
        }
    }

    /// <summary>
    /// Sends a request with a fresh id; for <see cref="RequestKind.Awaited"/> also waits for its reply. <paramref name="subscribe"/>:
    /// a subscribe's <c>last</c>, <c>maxRate</c> and <c>occupancy</c> (null: none; its <see cref="SubscribeOptions.Since"/> is
    /// not read, <paramref name="since"/> is what is sent).
    /// </summary>
    private async Task<object?> SendRequestAsync(Connection connection, string type, string? room, StreamPosition? since, string? token, RequestKind kind, CancellationToken cancellationToken, SubscribeOptions? subscribe = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var pending = new PendingRequest(connection, type, room, since, kind) { Options = subscribe ?? SubscribeOptions.Live };
        lock (_gate)
        {
            if (_connection != connection)
                throw new MoltBeatConnectionException("The connection was lost before the request was sent.");
            _pending[id] = pending;
        }
        try
        {
            await SendAsync(connection, Serialize(type, id, room, since, token, subscribe), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
                _pending.Remove(id);
            throw;
        }
        if (kind != RequestKind.Awaited)
            return null;
        try
        {
            return await pending.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
                _pending.Remove(id);
            throw;
        }
    }

    /// <summary>Sends one message; one send at a time per socket.</summary>
    /// <exception cref="MoltBeatConnectionException">The connection broke.</exception>
    private static async Task SendAsync(Connection connection, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(connection.Aborted, cancellationToken);
            await connection.SendLock.WaitAsync(linked.Token).ConfigureAwait(false);
            try
            {
                // Only the connection's own token here: cancelling a ClientWebSocket send aborts the socket.
                await connection.Socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, connection.Aborted).ConfigureAwait(false);
            }
            finally
            {
                connection.SendLock.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or IOException
            || (ex is OperationCanceledException && connection.Aborted.IsCancellationRequested))
        {
            throw new MoltBeatConnectionException("The connection broke while sending.", ex);
        }
    }

    private static byte[] Serialize(string type, long id, string? room, StreamPosition? since, string? token, SubscribeOptions? subscribe)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(WireNames.Type, type);
            writer.WriteNumber(WireNames.Id, id);
            if (room is not null)
                writer.WriteString(WireNames.Room, room);
            if (since is { } position)
            {
                writer.WriteStartObject(WireNames.Since);
                writer.WriteString(WireNames.Epoch, position.Epoch);
                writer.WriteNumber(WireNames.Offset, position.Offset);
                writer.WriteEndObject();
            }
            if (subscribe is not null)
            {
                if (subscribe.Last > 0)
                    writer.WriteNumber(WireNames.Last, subscribe.Last);
                if (subscribe.MaxRate is { } maxRate)
                    writer.WriteNumber(WireNames.MaxRate, maxRate);
                if (subscribe.Occupancy)
                    writer.WriteBoolean(WireNames.Occupancy, true);
            }
            if (token is not null)
                writer.WriteString(WireNames.Token, token);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Removes and returns the request with <paramref name="id"/>; the caller holds the lock.</summary>
    private PendingRequest? TakePendingLocked(long? id)
    {
        if (id is { } key && _pending.Remove(key, out var pending))
            return pending;
        return null;
    }

    /// <summary>Removes and returns the requests sent on <paramref name="connection"/> (all when null); the caller holds the lock.</summary>
    private List<PendingRequest> TakeAllPendingLocked(Connection? connection)
    {
        var taken = new List<PendingRequest>();
        foreach (var (id, pending) in _pending.ToArray())
        {
            if (connection is null || pending.Connection == connection)
            {
                _pending.Remove(id);
                taken.Add(pending);
            }
        }
        return taken;
    }

    private static void FailPending(List<PendingRequest> requests, Exception error)
    {
        foreach (var request in requests)
            request.Completion.TrySetException(error);
    }

    /// <summary>A request waiting for its reply.</summary>
    private sealed class PendingRequest(Connection connection, string type, string? room, StreamPosition? since, RequestKind kind)
    {
        public Connection Connection { get; } = connection;

        public string Type { get; } = type;

        public string? Room { get; } = room;

        /// <summary>The position a resubscription asked to recover from.</summary>
        public StreamPosition? Since { get; } = since;

        public RequestKind Kind { get; } = kind;

        /// <summary>The <c>last</c>, <c>maxRate</c> and <c>occupancy</c> a subscribe asked (<see cref="SubscribeOptions.Since"/> not used).</summary>
        public SubscribeOptions Options { get; init; } = SubscribeOptions.Live;

        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A room the client subscribes to, and where it stands in it (null until the server confirmed it).</summary>
    private sealed class RoomState
    {
        public StreamPosition? Position { get; set; }

        /// <summary>
        /// The options the application subscribed with (<see cref="SubscribeOptions.Since"/> aside), asked again on every
        /// resubscription. <c>last</c>: when the recovery from <see cref="Position"/> works the server ignores it, and
        /// when it cannot (history trimmed) the room opens on its latest events again rather than on nothing.
        /// <c>maxRate</c> and <c>occupancy</c>: a subscribe without them would turn them off on the server.
        /// </summary>
        public SubscribeOptions Options { get; set; } = SubscribeOptions.Live;

        /// <summary>The room's latest subscriber count (<c>occupancy</c>); null when <see cref="Options"/> does not ask for it, or none came yet.</summary>
        public long? Subscribers { get; set; }

        /// <summary>Resubscriptions of this room that the server failed in a row (each is retried after the reconnect backoff).</summary>
        public int FailedResubscribes { get; set; }
    }

    /// <summary>The ids (<c>offsets.all</c>) of the most recent events, to drop an event seen twice across a recovery.</summary>
    private sealed class DedupWindow(int capacity)
    {
        private readonly HashSet<long> _seen = [];
        private readonly Queue<long> _order = new();

        /// <summary>False when <paramref name="id"/> was seen already.</summary>
        public bool Add(long id)
        {
            if (capacity == 0)
                return true;
            if (!_seen.Add(id))
                return false;
            _order.Enqueue(id);
            if (_order.Count > capacity)
                _seen.Remove(_order.Dequeue());
            return true;
        }

        public void Clear()
        {
            _seen.Clear();
            _order.Clear();
        }
    }
}
