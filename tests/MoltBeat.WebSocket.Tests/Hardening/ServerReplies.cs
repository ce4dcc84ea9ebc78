using System.Text.Json;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>What a server reply must look like (protocol.md): a JSON object with a known string <c>type</c>.</summary>
public static class ServerReplies
{
    public static readonly string[] Types = ["connected", "event", "subscribed", "unsubscribed", "pong", "authenticated", "error"];

    public static readonly string[] ErrorCodes =
        ["bad_request", "unknown_type", "invalid_room", "forbidden", "too_many_subscriptions", "rate_limited", "unauthorized", "internal"];

    /// <summary>The close codes a hostile or broken client may get: protocol, data, policy and size errors.</summary>
    public static readonly int[] ProtocolCloses = [1002, 1003, 1007, 1008, 1009];

    /// <summary>Parses one server frame (several lines when batched) and checks each message's shape.</summary>
    public static List<JsonElement> AssertValid(string frame)
    {
        var messages = new List<JsonElement>();
        foreach (var line in frame.Split('\n'))
        {
            using var document = JsonDocument.Parse(line);
            var message = document.RootElement.Clone();
            Assert.Equal(JsonValueKind.Object, message.ValueKind);
            var type = message.GetProperty("type").GetString();
            Assert.Contains(type, Types);
            if (type == "error")
                Assert.Contains(message.GetProperty("code").GetString(), ErrorCodes);
            Assert.NotEqual("internal", type == "error" ? message.GetProperty("code").GetString() : null);
            messages.Add(message);
        }
        return messages;
    }
}
