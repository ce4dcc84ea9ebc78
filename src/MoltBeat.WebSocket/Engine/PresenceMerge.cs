namespace MoltBeat.WebSocket.Engine;

/// <summary>Joins the presence of several nodes into a room's presence (one list, most connections first, bounded).</summary>
public static class PresenceMerge
{
    /// <summary>The room's presence from each node's users and anonymous count.</summary>
    /// <param name="room">The room.</param>
    /// <param name="nodes">Each node's users (with their connections there) and anonymous subscribed connections.</param>
    /// <param name="maxUsers">The most users listed; the subscriber count covers them all.</param>
    public static RoomPresence Of(string room, IEnumerable<(IReadOnlyList<UserPresence> Users, int Anonymous)> nodes, int maxUsers)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var connections = new Dictionary<string, int>(StringComparer.Ordinal);
        long subscribers = 0;
        foreach (var (users, anonymous) in nodes)
        {
            subscribers += anonymous;
            foreach (var user in users)
            {
                subscribers += user.Connections;
                connections[user.UserId] = connections.GetValueOrDefault(user.UserId) + user.Connections;
            }
        }
        var listed = connections
            .OrderByDescending(c => c.Value)
            .ThenBy(c => c.Key, StringComparer.Ordinal)
            .Take(Math.Max(0, maxUsers))
            .Select(c => new UserPresence(c.Key, c.Value))
            .ToList();
        return new RoomPresence(room, subscribers, listed);
    }
}
