namespace MoltBeat.WebSocket.Server;

internal sealed partial class ClientConnection
{
    // A token bucket of WSServerOptions.RateLimitBurst tokens, one per client message, refilled with
    // RateLimitPerSecond by the sweep timer. An int and two compare-exchange loops, where a
    // TokenBucketRateLimiter with its options, queue and lock was about 250 bytes per connection.

    /// <summary>Takes a token for one client message; false when the bucket is empty (rate limited).</summary>
    private bool TryTakeRequestToken()
    {
        while (true)
        {
            var tokens = Volatile.Read(ref _requestTokens);
            if (tokens <= 0)
                return false;
            if (Interlocked.CompareExchange(ref _requestTokens, tokens - 1, tokens) == tokens)
                return true;
        }
    }

    /// <summary>Adds a second's tokens, up to the burst; called by the sweep timer once a second.</summary>
    public void ReplenishRateLimit()
    {
        var options = _services.Options;
        while (true)
        {
            var tokens = Volatile.Read(ref _requestTokens);
            var refilled = (int)Math.Min(options.RateLimitBurst, (long)tokens + options.RateLimitPerSecond);
            if (refilled <= tokens || Interlocked.CompareExchange(ref _requestTokens, refilled, tokens) == tokens)
                return;
        }
    }
}
