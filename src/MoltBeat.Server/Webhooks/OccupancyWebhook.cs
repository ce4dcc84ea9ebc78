using System.Buffers;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace MoltBeat.Server.Webhooks;

/// <summary>
/// Delivers room occupancy transitions to an HTTP webhook (<c>--webhook-url</c>): each notice is one POST of
/// <c>{"type":"room.occupied"|"room.vacated","room":"...","at":"2026-12-03T18:00:00.000Z","node":"..."}</c>,
/// <c>Content-Type: application/json</c>, one at a time and in order, at least once (a retry after a timeout may
/// repeat a notice the target did get).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="TryEnqueue"/> only puts the notice in a bounded queue (<see cref="OccupancyWebhookOptions.QueueCapacity"/>):
/// it never waits and never throws; a notice arriving when the queue is full is dropped and counted
/// (<see cref="Dropped"/>). One background sender POSTs what is queued. Network errors, timeouts
/// (<see cref="OccupancyWebhookOptions.RequestTimeout"/>), 5xx and 429 are retried with exponential backoff and
/// jitter (a <c>Retry-After</c> is honoured up to <see cref="OccupancyWebhookOptions.MaxBackoff"/>), up to
/// <see cref="OccupancyWebhookOptions.MaxAttempts"/> POSTs; then the notice is given up (<see cref="Failed"/>).
/// Any other status (4xx, 3xx: redirects are not followed) is not retried and counts as failed at once.
/// </para>
/// <para>
/// The counters are also instruments on the meter <see cref="MeterName"/>: <c>moltbeat.webhook.delivered</c>,
/// <c>moltbeat.webhook.dropped</c>, <c>moltbeat.webhook.failed</c> (tagged <c>type</c>, and <c>reason</c>:
/// <c>rejected</c>, <c>retries</c> or <c>shutdown</c>) and the gauge <c>moltbeat.webhook.queued</c>. A failing target
/// and a full queue are each logged as a warning at most once per <see cref="OccupancyWebhookOptions.WarningInterval"/>,
/// with the counts since the previous one.
/// </para>
/// <para>
/// Disposal stops taking notices, cancels any retry wait, sends what is still queued once each for at most
/// <see cref="OccupancyWebhookOptions.DrainTimeout"/>, then cancels; what is left counts as failed.
/// </para>
/// </remarks>
internal sealed class OccupancyWebhook : IAsyncDisposable, IDisposable
{
    /// <summary>The server application's meter, which holds the webhook's instruments.</summary>
    public const string MeterName = "MoltBeat.Server";

    /// <summary>The payload's <c>type</c> for <see cref="RoomOccupancyKind.Occupied"/>.</summary>
    public const string OccupiedType = "room.occupied";

    /// <summary>The payload's <c>type</c> for <see cref="RoomOccupancyKind.Vacated"/>.</summary>
    public const string VacatedType = "room.vacated";

    private static readonly KeyValuePair<string, object?> OccupiedTag = new("type", OccupiedType);
    private static readonly KeyValuePair<string, object?> VacatedTag = new("type", VacatedType);

    private readonly Uri _target;
    private readonly string _targetForLogs;
    private readonly OccupancyWebhookOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly Channel<RoomOccupancyNotice> _queue;
    // Cancelled when disposal starts: no more retry waits. _stop, later, cancels the POST in flight.
    private readonly CancellationTokenSource _noMoreRetries = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Meter? _ownMeter;
    private readonly Counter<long> _deliveredCounter;
    private readonly Counter<long> _droppedCounter;
    private readonly Counter<long> _failedCounter;
    private readonly Task _sender;
    private readonly Lock _disposeLock = new();
    private Task? _disposal;
    private volatile bool _closed;
    private volatile string _node;
    private long _delivered;
    private long _dropped;
    private long _failed;

    // The sender's own state, for rate-limited warnings (only the sender task touches it).
    private long? _lastFailureWarning;
    private long? _lastDropWarning;
    private int _failedAttemptsSinceWarning;
    private int _givenUpSinceWarning;
    private bool _warnedSinceSuccess;
    private long _dropsWarned;

    /// <summary>Starts the sender for <paramref name="target"/>.</summary>
    /// <param name="target">An absolute http or https URL (see <see cref="TryParseTarget"/>).</param>
    /// <param name="options">Queue, timeout and retry settings; the defaults when null. Not to be changed afterwards.</param>
    /// <param name="logger">Where failures and drops are reported (rate-limited).</param>
    /// <param name="meterFactory">Creates the <see cref="MeterName"/> meter; a meter of its own when null.</param>
    /// <param name="timeProvider">The clock of retry delays and warning intervals; the system's when null.</param>
    /// <exception cref="ArgumentException"><paramref name="target"/> is not an absolute http(s) URL, or an option is out of range.</exception>
    public OccupancyWebhook(Uri target, OccupancyWebhookOptions? options = null, ILogger<OccupancyWebhook>? logger = null,
        IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!IsHttpUrl(target))
            throw new ArgumentException("The webhook target must be an absolute http:// or https:// URL.", nameof(target));
        _options = options ?? new OccupancyWebhookOptions();
        _options.Validate();
        _target = target;
        // The query and user info may hold a token: never logged.
        _targetForLogs = $"{target.Scheme}://{target.Authority}{target.AbsolutePath}";
        _node = _options.Node;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _queue = Channel.CreateBounded<RoomOccupancyNotice>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            // Wait: TryWrite then says false when the queue is full (DropWrite would say true and drop silently).
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = _options.RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2), // a target behind DNS that moves is found again
        })
        {
            Timeout = _options.RequestTimeout,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("MoltBeat",
            typeof(OccupancyWebhook).Assembly.GetName().Version?.ToString(3) ?? "1.0.0"));

        var meter = meterFactory?.Create(MeterName) ?? (_ownMeter = new Meter(MeterName));
        _deliveredCounter = meter.CreateCounter<long>("moltbeat.webhook.delivered", "{notice}", "Occupancy notices the webhook target accepted (2xx).");
        _droppedCounter = meter.CreateCounter<long>("moltbeat.webhook.dropped", "{notice}", "Occupancy notices dropped because the webhook queue was full.");
        _failedCounter = meter.CreateCounter<long>("moltbeat.webhook.failed", "{notice}",
            "Occupancy notices given up: refused by the target (reason=rejected), out of attempts (retries), or left at shutdown (shutdown).");
        meter.CreateObservableGauge("moltbeat.webhook.queued", () => _queue.Reader.Count, "{notice}", "Occupancy notices waiting to be sent.");

        _logger.WebhookStarted(_targetForLogs, _options.QueueCapacity, _options.MaxAttempts);
        _sender = Task.Run(SendAllAsync);
    }

    /// <summary>The <c>node</c> of the notices sent from now on (e.g. <c>host:port</c> once the server listens).</summary>
    public string Node
    {
        get => _node;
        set => _node = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Notices the target accepted (2xx).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Notices dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Notices given up: a status that is not retried, out of attempts, or still undelivered at disposal.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Notices in the queue, not counting the one being sent.</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>
    /// Queues <paramref name="notice"/> for the sender, without waiting and without throwing. False when it was not
    /// queued: the queue is full (the notice is dropped and counted in <see cref="Dropped"/>), the webhook is disposed,
    /// or the notice is null or malformed.
    /// </summary>
    public bool TryEnqueue(RoomOccupancyNotice notice)
    {
        try
        {
            if (notice is null || notice.Room is null || notice.Kind is not (RoomOccupancyKind.Occupied or RoomOccupancyKind.Vacated))
                return false;
            if (_queue.Writer.TryWrite(notice))
                return true;
            if (_closed)
                return false;
            Interlocked.Increment(ref _dropped);
            _droppedCounter.Add(1, TypeTag(notice.Kind));
            return false;
        }
        catch (Exception)
        {
            // e.g. a metrics listener that throws: the caller is the server's event, which must not fail for it.
            return false;
        }
    }

    /// <summary>The webhook target <paramref name="url"/>, when it is an absolute http or https URL.</summary>
    public static bool TryParseTarget(string? url, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Uri? target)
    {
        target = null;
        if (string.IsNullOrWhiteSpace(url) || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || !IsHttpUrl(uri))
            return false;
        target = uri;
        return true;
    }

    /// <summary>The body POSTed for <paramref name="notice"/>: <c>{"type","room","at","node"}</c>, <c>at</c> in UTC to the millisecond.</summary>
    public static byte[] Serialize(RoomOccupancyNotice notice, string node)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", notice.Kind == RoomOccupancyKind.Occupied ? OccupiedType : VacatedType);
            json.WriteString("room", notice.Room);
            json.WriteString("at", notice.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            json.WriteString("node", node);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        lock (_disposeLock)
            _disposal ??= DisposeCoreAsync();
        return new ValueTask(_disposal);
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static bool IsHttpUrl(Uri uri) =>
        uri.IsAbsoluteUri && uri.Scheme is "http" or "https" && uri.Host.Length > 0;

    private static KeyValuePair<string, object?> TypeTag(RoomOccupancyKind kind) =>
        kind == RoomOccupancyKind.Occupied ? OccupiedTag : VacatedTag;

    private async Task DisposeCoreAsync()
    {
        _closed = true;
        _queue.Writer.TryComplete();
        await _noMoreRetries.CancelAsync();
        try
        {
            await _sender.WaitAsync(_options.DrainTimeout);
        }
        catch (TimeoutException)
        {
            await _stop.CancelAsync();
            await _sender;
        }
        _http.Dispose();
        _noMoreRetries.Dispose();
        _stop.Dispose();
        _ownMeter?.Dispose();
    }

    private async Task SendAllAsync()
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token))
            {
                while (!_stop.IsCancellationRequested && reader.TryRead(out var notice))
                {
                    await DeliverAsync(notice);
                    WarnOfDrops();
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The drain ran out of time: what is left is counted below.
        }
        catch (Exception ex)
        {
            // Not expected (DeliverAsync handles its failures): stop taking notices rather than queue them for nobody.
            _queue.Writer.TryComplete();
            _closed = true;
            _logger.WebhookSenderFailed(_targetForLogs, ex);
        }
        var left = 0;
        while (reader.TryRead(out var notice))
        {
            left++;
            CountFailed(notice, "shutdown");
        }
        if (left > 0)
            _logger.WebhookStoppedUndelivered(_targetForLogs, left);
    }

    private async Task DeliverAsync(RoomOccupancyNotice notice)
    {
        var body = Serialize(notice, _node);
        for (var attempt = 1; ; attempt++)
        {
            var (outcome, reason, retryAfter) = await PostAsync(body);
            switch (outcome)
            {
                case Outcome.Delivered:
                    Interlocked.Increment(ref _delivered);
                    _deliveredCounter.Add(1, TypeTag(notice.Kind));
                    if (_warnedSinceSuccess)
                    {
                        _warnedSinceSuccess = false;
                        _logger.WebhookRecovered(_targetForLogs);
                    }
                    return;
                case Outcome.Stopped:
                    CountFailed(notice, "shutdown");
                    return;
            }
            var outOfAttempts = attempt >= _options.MaxAttempts;
            var giveUp = outcome == Outcome.Rejected || outOfAttempts || _noMoreRetries.IsCancellationRequested;
            ReportFailure(reason, giveUp);
            if (giveUp)
            {
                CountFailed(notice, outcome == Outcome.Rejected ? "rejected" : outOfAttempts ? "retries" : "shutdown");
                return;
            }
            try
            {
                await Task.Delay(Backoff(attempt, retryAfter), _time, _noMoreRetries.Token);
            }
            catch (OperationCanceledException)
            {
                CountFailed(notice, "shutdown");
                return;
            }
        }
    }

    private async Task<(Outcome Outcome, string Reason, TimeSpan? RetryAfter)> PostAsync(byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, _target) { Content = content };
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
            var status = (int)response.StatusCode;
            if (status is >= 200 and <= 299)
                return (Outcome.Delivered, "", null);
            var reason = $"HTTP {status} {response.ReasonPhrase}".TrimEnd();
            return status is 429 or >= 500 ? (Outcome.Retry, reason, RetryAfter(response)) : (Outcome.Rejected, reason, null);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return (Outcome.Stopped, "stopped", null);
        }
        catch (OperationCanceledException)
        {
            return (Outcome.Retry, $"no response within {_options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s", null);
        }
        catch (Exception ex)
        {
            // HttpRequestException mostly: refused, reset, DNS, TLS.
            return (Outcome.Retry, ex.GetBaseException().Message, null);
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
            return delta;
        if (header?.Date is { } date)
            return date - _time.GetUtcNow();
        return null;
    }

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1: the initial backoff doubled per attempt, capped, with jitter (half to all of it).</summary>
    private TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
    {
        var bound = Math.Min(_options.InitialBackoff.Ticks * Math.Pow(2, Math.Min(attempt - 1, 30)), _options.MaxBackoff.Ticks);
        var delay = TimeSpan.FromTicks((long)(bound * (0.5 + (0.5 * Random.Shared.NextDouble()))));
        if (retryAfter > delay)
            delay = retryAfter.Value;
        return delay > _options.MaxBackoff ? _options.MaxBackoff : delay;
    }

    private void CountFailed(RoomOccupancyNotice notice, string reason)
    {
        Interlocked.Increment(ref _failed);
        _failedCounter.Add(1, TypeTag(notice.Kind), new KeyValuePair<string, object?>("reason", reason));
    }

    private void ReportFailure(string reason, bool gaveUp)
    {
        _failedAttemptsSinceWarning++;
        if (gaveUp)
            _givenUpSinceWarning++;
        if (_lastFailureWarning is { } last && _time.GetElapsedTime(last) < _options.WarningInterval)
            return;
        _lastFailureWarning = _time.GetTimestamp();
        _warnedSinceSuccess = true;
        _logger.WebhookFailing(_targetForLogs, reason, _failedAttemptsSinceWarning, _givenUpSinceWarning);
        _failedAttemptsSinceWarning = 0;
        _givenUpSinceWarning = 0;
    }

    private void WarnOfDrops()
    {
        var dropped = Dropped;
        if (dropped == _dropsWarned || (_lastDropWarning is { } last && _time.GetElapsedTime(last) < _options.WarningInterval))
            return;
        _lastDropWarning = _time.GetTimestamp();
        _logger.WebhookQueueFull(_targetForLogs, _options.QueueCapacity, dropped - _dropsWarned);
        _dropsWarned = dropped;
    }

    private enum Outcome
    {
        Delivered,
        Retry,
        Rejected,
        Stopped,
    }
}
