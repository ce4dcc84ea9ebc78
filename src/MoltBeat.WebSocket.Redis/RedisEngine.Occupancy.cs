using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MoltBeat.WebSocket.Engine;
using MoltBeat.WebSocket.Rooms;
using StackExchange.Redis;

namespace MoltBeat.WebSocket.Redis;

/// <summary>
/// Occupancy over the cluster: which rooms are occupied (<c>{prefix}:occupied</c>, claimed and vacated by scripts, so each
/// transition is told on one node only), and presence, asked of every node through the deployment's channel.
/// </summary>
public sealed partial class RedisEngine
{
    /// <inheritdoc />
    /// <remarks>One script on <c>{prefix}:occupied</c>.</remarks>
    public async ValueTask<bool> MarkOccupiedAsync(string room, CancellationToken cancellationToken)
    {
        RoomName.EnsureValid(room);
        cancellationToken.ThrowIfCancellationRequested();
        return (long)await EvaluateAsync(RedisScripts.MarkOccupied, [_keys.Occupied], [room], "occupancy").ConfigureAwait(false) == 1;
    }

    /// <inheritdoc />
    /// <remarks>
    /// One script over every occupied room and live node (so its cost grows with both). Counts reach Redis with each node's
    /// heartbeat, so the debounce used is at least three heartbeats: a subscriber that just arrived elsewhere is not missed.
    /// </remarks>
    public async ValueTask<IReadOnlyList<string>> TakeVacatedAsync(TimeSpan debounce, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var ms = (long)Math.Max(debounce.TotalMilliseconds, NodeTtlMs);
        var result = (RedisResult[])(await EvaluateAsync(RedisScripts.TakeVacated, [_keys.Occupied, _keys.Nodes], [ms, NodeTtlMs, _keys.NodeRoomsPrefix], "occupancy").ConfigureAwait(false))!;
        return [.. result.Select(r => (string)r!)];
    }

    /// <inheritdoc />
    /// <remarks>
    /// Asks every node through the deployment's channel; each writes its part into a hash of the query, which this node
    /// reads once every live node answered, or after <see cref="RedisEngineOptions.OperationTimeout"/> with the parts that
    /// came (a node that does not answer in time is left out).
    /// </remarks>
    public async ValueTask<RoomPresence> GetPresenceAsync(string room, int maxUsers, CancellationToken cancellationToken)
    {
        RoomName.EnsureValid(room);
        var redis = ConnectedRedis("presence");
        var query = RandomNumberGenerator.GetHexString(16, lowercase: true);
        var answers = _keys.PresenceAnswers(query);
        var db = redis.GetDatabase();
        Dictionary<string, string> parts;
        try
        {
            var live = (long)await db.ScriptEvaluateAsync(RedisScripts.LiveNodes, [_keys.Nodes], [NodeTtlMs]).ConfigureAwait(false);
            await redis.GetSubscriber().PublishAsync(_keys.Events, Encoding.UTF8.GetBytes($"P{query}\n{room}")).ConfigureAwait(false);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (await db.HashLengthAsync(answers).ConfigureAwait(false) < Math.Max(1, live) && waited.Elapsed < _options.OperationTimeout)
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            parts = (await db.HashGetAllAsync(answers).ConfigureAwait(false)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
            await db.KeyDeleteAsync(answers).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw Unavailable("presence", ex);
        }
        return PresenceMerge.Of(room, parts.Values.Select(ParsePresence), maxUsers);
    }

    /// <summary>This node's part of a presence query: <c>&lt;anonymous&gt;\n&lt;user&gt;\t&lt;connections&gt;\n...</c>.</summary>
    private async Task AnswerPresenceAsync(string query, string room)
    {
        if (_sink is not { } sink || _redis is not { IsConnected: true } redis || !RoomName.IsValid(room))
            return;
        var (users, anonymous) = sink.Presence(room);
        var part = new StringBuilder().Append(anonymous.ToString(CultureInfo.InvariantCulture));
        foreach (var user in users)
            part.Append('\n').Append(user.UserId.Replace('\n', ' ').Replace('\t', ' ')).Append('\t').Append(user.Connections.ToString(CultureInfo.InvariantCulture));
        try
        {
            var db = redis.GetDatabase();
            var answers = _keys.PresenceAnswers(query);
            await db.HashSetAsync(answers, _nodeId, part.ToString()).ConfigureAwait(false);
            await db.KeyExpireAsync(answers, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            // The asker times out on this node's part.
        }
    }

    private static (IReadOnlyList<UserPresence> Users, int Anonymous) ParsePresence(string part)
    {
        var lines = part.Split('\n');
        var users = new List<UserPresence>(lines.Length - 1);
        foreach (var line in lines.Skip(1))
        {
            var tab = line.LastIndexOf('\t');
            if (tab > 0 && int.TryParse(line.AsSpan(tab + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var connections))
                users.Add(new UserPresence(line[..tab], connections));
        }
        return (users, int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var anonymous) ? anonymous : 0);
    }
}
