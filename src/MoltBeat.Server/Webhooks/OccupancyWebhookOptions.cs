namespace MoltBeat.Server.Webhooks;

/// <summary>How <see cref="OccupancyWebhook"/> queues, sends and retries. The defaults are the server's.</summary>
internal sealed class OccupancyWebhookOptions
{
    /// <summary>Notices waiting to be sent; a notice arriving when it is full is dropped and counted. Default 1000.</summary>
    public int QueueCapacity { get; set; } = 1000;

    /// <summary>How long one POST may take, connect to response headers. Default 5 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>POSTs of one notice, the first included, before it is given up. Default 5.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The bound of the first retry's delay; each further retry doubles it. Default 0.5 s.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The cap of every retry's delay (a longer <c>Retry-After</c> is cut to it too). Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long disposal goes on sending what is queued (once each, no retries) before it cancels. Default 2 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The least time between two warnings of the same kind (target failing, queue full). Default 1 min.</summary>
    public TimeSpan WarningInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The <c>node</c> of the payload, until <see cref="OccupancyWebhook.Node"/> is set. Default the host name.</summary>
    public string Node { get; set; } = Environment.MachineName;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(QueueCapacity, 1, nameof(QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero, nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(InitialBackoff, TimeSpan.Zero, nameof(InitialBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackoff, InitialBackoff, nameof(MaxBackoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(DrainTimeout, TimeSpan.Zero, nameof(DrainTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(WarningInterval, TimeSpan.Zero, nameof(WarningInterval));
        ArgumentNullException.ThrowIfNull(Node, nameof(Node));
    }
}
