using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MoltBeat.WebSocket.Client;

namespace MoltBeat.WebSocket.Tests.Client;

/// <summary>Shared helpers of the client tests: bounded waits, fast options, and a recorder of client events.</summary>
public static class ClientTestKit
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    public static string UniqueRoom(string prefix = "test") => $"{prefix}:{Guid.NewGuid():N}";

    /// <summary>Options that reconnect quickly, so tests do not wait for the production backoff.</summary>
    public static MoltBeatWSClientOptions FastOptions(Uri url) => new()
    {
        Url = url,
        ReconnectInterval = TimeSpan.FromMilliseconds(50),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(250),
        MaxReconnectAttempts = 100,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Options of a client that gives up after three quick reconnect attempts.</summary>
    public static MoltBeatWSClientOptions ThreeQuickAttempts(Uri url)
    {
        var options = FastOptions(url);
        options.MaxReconnectAttempts = 3;
        options.ReconnectInterval = TimeSpan.FromMilliseconds(20);
        options.MaxReconnectDelay = TimeSpan.FromMilliseconds(50);
        return options;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after the timeout.</summary>
    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Limit);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out waiting for: {what}. {diagnostics?.Invoke()}");
            await Task.Delay(20);
        }
    }

    /// <summary>A loopback port with nothing listening on it.</summary>
    public static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>Records everything a client raises, in order, for assertions.</summary>
public sealed class ClientRecorder
{
    public ClientRecorder(MoltBeatWSClient client)
    {
        client.Connected += (_, e) => Connected.Enqueue(e);
        client.Disconnected += (_, e) => Disconnected.Enqueue(e);
        client.Error += (_, e) => Errors.Enqueue(e.Exception);
        client.Subscribed += (_, e) => Subscribed.Enqueue(e);
        client.Unsubscribed += (_, e) => { Unsubscribed.Enqueue(e.Room); UnsubscribedWithReason.Enqueue(e); };
        client.ReconnectFailed += (_, e) => ReconnectFailed.Enqueue(e);
        client.Reconnecting += (_, e) => Reconnecting.Enqueue(e);
        client.RecoveryFailed += (_, e) => RecoveryFailed.Enqueue(e);
        client.StateChanged += (_, e) => States.Enqueue(e.NewState);
        client.Event += (_, e) => Events.Enqueue(e);
    }

    public ConcurrentQueue<MoltBeatConnectedEventArgs> Connected { get; } = new();

    public ConcurrentQueue<MoltBeatDisconnectedEventArgs> Disconnected { get; } = new();

    public ConcurrentQueue<Exception> Errors { get; } = new();

    public ConcurrentQueue<MoltBeatSubscription> Subscribed { get; } = new();

    public ConcurrentQueue<string> Unsubscribed { get; } = new();

    public ConcurrentQueue<MoltBeatUnsubscribedEventArgs> UnsubscribedWithReason { get; } = new();

    public ConcurrentQueue<MoltBeatReconnectFailedEventArgs> ReconnectFailed { get; } = new();

    public ConcurrentQueue<MoltBeatReconnectingEventArgs> Reconnecting { get; } = new();

    public ConcurrentQueue<MoltBeatRecoveryFailedEventArgs> RecoveryFailed { get; } = new();

    public ConcurrentQueue<MoltBeatWSClientState> States { get; } = new();

    public ConcurrentQueue<ReceivedEvent> Events { get; } = new();

    /// <summary>What happened so far, for a failure message.</summary>
    public string Describe(MoltBeatWSClient client) =>
        $"State {client.State}; events {Events.Count}; connected {Connected.Count}; "
        + $"disconnected [{string.Join(", ", Disconnected.Select(d => $"{d.CloseCode} {d.Reason} {d.Exception?.GetType().Name} reconnect={d.WillReconnect}"))}]; "
        + $"subscribed [{string.Join(", ", Subscribed.Select(s => $"{s.Offset}/{s.Recovered}"))}]; "
        + $"errors [{string.Join(", ", Errors.Select(e => e.Message))}]; reconnectFailed {ReconnectFailed.Count}";

    /// <summary>The <c>n</c> field of every event's data, in arrival order.</summary>
    public List<int> Numbers(string eventName = "tick") =>
        [.. Events.Where(e => e.Event == eventName).Select(e => e.Data.GetProperty("n").GetInt32())];
}
