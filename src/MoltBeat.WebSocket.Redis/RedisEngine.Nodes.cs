using System.Security.Cryptography;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// The cluster view: each node's heartbeat and subscriber counts in Redis, so any node counts a room's subscribers over
/// all of them.
/// </summary>
public sealed partial class RedisEngine
{
    private readonly string _nodeId = RandomNumberGenerator.GetHexString(16, lowercase: true);
    private Task _heartbeats = Task.CompletedTask;
    // Set when Redis may not hold this node's counts (start, reconnect, a failed heartbeat): the next heartbeat writes them all.
    private int _writeAll = 1;

    /// <summary>This node's id in the cluster view (random, new at each start).</summary>
    public string NodeId => _nodeId;

    private long NodeTtlMs => (long)Math.Min(_options.NodeHeartbeat.TotalMilliseconds * 3, 1e15);

    /// <inheritdoc />
    /// <remarks>
    /// One script sums the room's count in the hash of every other node whose heartbeat is within three heartbeats
    /// (<c>{prefix}:nodes</c>, <c>{prefix}:node:&lt;id&gt;:rooms</c>); this node's count is read now from its sink.
    /// </remarks>
    public async ValueTask<long> GetSubscribersAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(room);
        if (!RoomName.IsValid(room))
            throw new ArgumentException($"Invalid room '{room}'.", nameof(room));
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] args = [NodeTtlMs, room, _nodeId, _keys.NodeRoomsPrefix];
        var others = (long)(await EvaluateAsync(RedisScripts.Subscribers, [_keys.Nodes], args, "subscriber count").ConfigureAwait(false));
        return others + sink.Subscribers(room);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The nodes whose heartbeat is within three heartbeats (<c>{prefix}:nodes</c>) with the connections each last shared
    /// (<c>{prefix}:nodeconnections</c>); this node's connections are read now from its sink.
    /// </remarks>
    public async ValueTask<IReadOnlyList<NodeInfo>> GetNodesAsync(CancellationToken cancellationToken)
    {
        var sink = _sink ?? throw new InvalidOperationException("The engine has not been started.");
        cancellationToken.ThrowIfCancellationRequested();
        var live = (RedisResult[])(await EvaluateAsync(RedisScripts.Nodes, [_keys.Nodes, _keys.NodeConnections], [NodeTtlMs], "node list").ConfigureAwait(false))!;
        // This node first, as of now, even before its first heartbeat reached Redis.
        List<NodeInfo> nodes = [new NodeInfo(_nodeId, sink.Connections, DateTimeOffset.UtcNow, Self: true)];
        for (var i = 0; i + 2 < live.Length; i += 3)
        {
            var id = (string)live[i]!;
            if (id == _nodeId)
                continue;
            var beat = DateTimeOffset.FromUnixTimeMilliseconds((long)(double)live[i + 1]);
            nodes.Add(new NodeInfo(id, (int)live[i + 2], beat, Self: false));
        }
        return nodes;
    }

    private void StartHeartbeats() =>
        _heartbeats = Task.Run(() => HeartbeatAsync(_stopping.Token), CancellationToken.None);

    private async Task HeartbeatAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.NodeHeartbeat);
        do
        {
            try
            {
                await BeatAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                Volatile.Write(ref _writeAll, 1);
                _logger.HeartbeatFailed(ex);
            }
        }
        while (await WaitAsync(timer, stopping).ConfigureAwait(false));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task BeatAsync()
    {
        // A heartbeat late by more than the time to live (a stalled process) finds its counts expired: write them all now.
        if (!await BeatOnceAsync().ConfigureAwait(false))
            await BeatOnceAsync().ConfigureAwait(false);
    }

    /// <summary>One heartbeat; false when Redis no longer held this node's counts and they were not all written.</summary>
    private async Task<bool> BeatOnceAsync()
    {
        var redis = _redis;
        if (redis is not { IsConnected: true } || _sink is not { } sink)
        {
            Volatile.Write(ref _writeAll, 1);
            return true;
        }
        var all = Interlocked.Exchange(ref _writeAll, 0) == 1;
        var rooms = sink.TakeChangedRooms(all);
        var args = new RedisValue[4 + rooms.Count * 2];
        args[0] = _nodeId;
        args[1] = NodeTtlMs;
        args[2] = all ? 1 : 0;
        args[3] = sink.Connections;
        var i = 4;
        foreach (var room in rooms)
        {
            args[i++] = room;
            args[i++] = sink.Subscribers(room);
        }
        try
        {
            var held = (long)await redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Heartbeat, [_keys.Nodes, _keys.NodeRooms(_nodeId), _keys.NodeConnections], args).ConfigureAwait(false);
            if (held == 1 || all)
                return true;
        }
        catch
        {
            Volatile.Write(ref _writeAll, 1); // the changes taken are lost: write everything next time
            throw;
        }
        Volatile.Write(ref _writeAll, 1);
        return false;
    }

    /// <summary>Stops this node's heartbeats without leaving the view, as a node that dies would (tests).</summary>
    internal async Task StopHeartbeatsForTestAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _heartbeats.ConfigureAwait(false);
    }

    private async Task StopHeartbeatsAsync()
    {
        try
        {
            await _heartbeats.WaitAsync(_options.OperationTimeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // It ends with the multiplexer.
        }
        // Leave the view at once rather than after three heartbeats.
        if (_redis is { IsConnected: true } redis)
        {
            try
            {
                var db = redis.GetDatabase();
                await Task.WhenAll(db.SortedSetRemoveAsync(_keys.Nodes, _nodeId), db.KeyDeleteAsync(_keys.NodeRooms(_nodeId)), db.HashDeleteAsync(_keys.NodeConnections, _nodeId)).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                // Its entries expire by themselves.
            }
        }
    }
}
