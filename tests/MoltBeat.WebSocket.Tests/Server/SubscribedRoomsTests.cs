using MoltBeat.WebSocket.Server;

namespace MoltBeat.WebSocket.Tests.Server;

/// <summary>A connection's subscriptions (pure logic): one room in fields, more in a dictionary, the same answers either way.</summary>
public sealed class SubscribedRoomsTests
{
    [Fact]
    public void One_room_is_added_read_replaced_and_removed()
    {
        var rooms = new SubscribedRooms();
        Assert.Equal(0, rooms.Count);
        Assert.False(rooms.TryGetValue("a", out _));
        rooms.Set("a", 5);
        rooms.Set("a", 3);
        Assert.True(rooms.Contains("a"));
        Assert.False(rooms.Contains("b"));
        Assert.True(rooms.TryGetValue("a", out var mark));
        Assert.Equal(3, mark);
        Assert.Equal(["a"], rooms.Rooms);
        Assert.Equal([new KeyValuePair<string, long>("a", 3)], Enumerate(rooms));
        Assert.False(rooms.Remove("b"));
        Assert.True(rooms.Remove("a"));
        Assert.Equal(0, rooms.Count);
        Assert.Empty(Enumerate(rooms));
    }

    [Fact]
    public void Many_rooms_keep_every_mark_through_removals_and_clear()
    {
        var rooms = new SubscribedRooms();
        for (var i = 0; i < 10; i++)
            rooms.Set($"r{i}", i);
        rooms.Set("r3", 30);
        Assert.Equal(10, rooms.Count);
        Assert.True(rooms.Remove("r0"));
        Assert.False(rooms.Remove("r0"));
        Assert.Equal(Enumerable.Range(1, 9).Select(i => $"r{i}").Order(), rooms.Rooms.Order());
        Assert.Equal(30, Enumerate(rooms).Single(p => p.Key == "r3").Value);
        Assert.True(rooms.TryGetValue("r9", out var mark));
        Assert.Equal(9, mark);
        rooms.Clear();
        Assert.Equal(0, rooms.Count);
        Assert.Empty(rooms.Rooms);
        rooms.Set("again", 1);
        Assert.Equal([new KeyValuePair<string, long>("again", 1)], Enumerate(rooms));
    }

    private static List<KeyValuePair<string, long>> Enumerate(SubscribedRooms rooms)
    {
        var pairs = new List<KeyValuePair<string, long>>();
        foreach (var pair in rooms)
            pairs.Add(pair);
        return pairs;
    }
}
