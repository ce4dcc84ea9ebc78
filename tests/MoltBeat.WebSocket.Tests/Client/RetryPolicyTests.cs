using System.Collections.Concurrent;
using MoltBeat.WebSocket.Client;
using MoltBeat.WebSocket.Tests.Infrastructure;
using static MoltBeat.WebSocket.Tests.Client.ClientTestKit;

namespace MoltBeat.WebSocket.Tests.Client;

public sealed class RetryPolicyTests
{
    private static MoltBeatRetryContext Attempt(int previous, int? closeCode = 1006) => new(previous, TimeSpan.Zero, closeCode);

    [Fact]
    public void Backoff_is_full_jitter_under_an_exponentially_growing_cap_and_stops_after_the_attempts()
    {
        var policy = new ExponentialBackoffRetryPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), maxAttempts: 10, new Random(1234));
        var sameSeed = new Random(1234);
        double[] caps = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30];

        for (var attempt = 0; attempt < 10; attempt++)
        {
            var delay = policy.NextRetryDelay(Attempt(attempt));
            var cap = TimeSpan.FromSeconds(caps[attempt]);
            Assert.Equal(cap, policy.DelayBound(attempt));
            Assert.Equal(TimeSpan.FromTicks((long)(cap.Ticks * sameSeed.NextDouble())), delay);
            Assert.InRange(delay!.Value, TimeSpan.Zero, cap);
        }
        Assert.Null(policy.NextRetryDelay(Attempt(10)));
    }

    [Fact]
    public void Backoff_delays_grow_on_average_and_spread_over_the_whole_range()
    {
        var policy = new ExponentialBackoffRetryPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(3), maxAttempts: 20, new Random(42));
        var previousMean = TimeSpan.Zero;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var samples = Enumerable.Range(0, 2000).Select(_ => policy.NextRetryDelay(Attempt(attempt))!.Value).ToArray();
            var cap = policy.DelayBound(attempt);
            var mean = TimeSpan.FromTicks((long)samples.Average(s => s.Ticks));
            // Full jitter: uniform in [0, cap], so the mean is cap / 2 and both ends of the range occur.
            Assert.InRange(mean, cap * 0.45, cap * 0.55);
            Assert.Contains(samples, s => s < cap * 0.05);
            Assert.Contains(samples, s => s > cap * 0.95);
            Assert.True(mean > previousMean);
            previousMean = mean;
        }
        Assert.Equal(TimeSpan.FromSeconds(3), policy.DelayBound(10));
    }

    [Fact]
    public void Rate_limited_close_starts_the_backoff_higher()
    {
        var policy = new ExponentialBackoffRetryPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), maxAttempts: 10);

        Assert.Equal(TimeSpan.FromSeconds(1), policy.DelayBound(0, closeCode: 1001));
        Assert.Equal(TimeSpan.FromSeconds(8), policy.DelayBound(0, closeCode: 4008));
    }

    [Fact(Timeout = 30_000)]
    public async Task Client_asks_its_retry_policy_for_every_attempt_with_the_close_code()
    {
        var server = await TestServer.StartAsync();
        var contexts = new ConcurrentQueue<MoltBeatRetryContext>();
        var options = FastOptions(server.WsUri());
        options.RetryPolicy = new RecordingPolicy(contexts, attempts: 3);
        await using var client = new MoltBeatWSClient(options);
        var recorder = new ClientRecorder(client);
        await client.ConnectAsync().WaitAsync(Limit);

        await server.DisposeAsync();

        await Eventually(() => !recorder.ReconnectFailed.IsEmpty, "ReconnectFailed");
        Assert.Equal([0, 1, 2, 3], contexts.Select(c => c.PreviousAttempts));
        Assert.All(contexts, c => Assert.Equal(1001, c.CloseCode));
        Assert.Equal(3, recorder.ReconnectFailed.Single().Attempts);
    }

    [Fact(Timeout = 30_000)]
    public async Task ConnectAsync_and_SubscribeAsync_check_the_state()
    {
        await using var server = await TestServer.StartAsync();
        await using var client = new MoltBeatWSClient(FastOptions(server.WsUri()));

        await Assert.ThrowsAsync<InvalidOperationException>(() => client.SubscribeAsync("a").WaitAsync(Limit));
        await client.ConnectAsync().WaitAsync(Limit);
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectAsync().WaitAsync(Limit));
        Assert.True(client.IsConnected);
    }

    private sealed class RecordingPolicy(ConcurrentQueue<MoltBeatRetryContext> contexts, int attempts) : IMoltBeatRetryPolicy
    {
        public TimeSpan? NextRetryDelay(MoltBeatRetryContext context)
        {
            contexts.Enqueue(context);
            return context.PreviousAttempts < attempts ? TimeSpan.FromMilliseconds(10) : null;
        }
    }
}
