using System.Text;
using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Protocol;

/// <summary>What conflation compares, read back from an event's frame: room(s), event name and key, whatever the payload holds.</summary>
public sealed class ConflationIdentityTests
{
    private static string? Identity(IReadOnlyList<string> rooms, string name, string data, string? key, bool offsets = true) =>
        EventFrame.ConflationIdentity(EventFrame.Build(rooms, name, Encoding.UTF8.GetBytes(data), 1, key,
            offsets ? [new("r", 1), new("all", 9)] : null));

    [Fact]
    public void An_unkeyed_event_has_none_even_when_its_payload_looks_like_a_key()
    {
        Assert.Null(Identity(["r"], "e", """{"x":1,"key":"cpu"}""", null));
        Assert.Null(Identity(["r"], "e", """{"key":"cpu"}""", null, offsets: false));
    }

    [Fact]
    public void Events_of_one_room_name_and_key_share_it_whatever_their_payload()
    {
        var first = Identity(["r"], "metrics:updated", """{"n":1,"key":"other"}""", "cpu");
        Assert.NotNull(first);
        Assert.Equal(first, Identity(["r"], "metrics:updated", """{"n":2}""", "cpu"));
        Assert.Equal(first, Identity(["r"], "metrics:updated", """{"n":3}""", "cpu", offsets: false));
    }

    [Theory]
    [InlineData("other-room", "metrics:updated", "cpu")]
    [InlineData("r", "metrics:other", "cpu")]
    [InlineData("r", "metrics:updated", "rps")]
    [InlineData("r", "metrics:updated", "cpu\",\"key\":\"x")]
    public void A_different_room_name_or_key_is_another_identity(string room, string name, string key) =>
        Assert.NotEqual(Identity(["r"], "metrics:updated", "{}", "cpu"), Identity([room], name, "{}", key));

    [Fact]
    public void Several_rooms_and_escaped_names_are_part_of_it()
    {
        Assert.NotEqual(Identity(["r"], "e", "{}", "k"), Identity(["r", "s"], "e", "{}", "k"));
        Assert.Equal(Identity(["r"], "e\"x", "{}", "k\"y"), Identity(["r"], "e\"x", """{"data":1}""", "k\"y"));
    }
}
