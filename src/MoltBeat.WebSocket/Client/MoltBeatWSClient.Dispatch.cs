using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace MoltBeat.WebSocket.Client;

public sealed partial class MoltBeatWSClient
{
    // Everything the application hears goes through this queue and one dispatcher task: callbacks run one at a
    // time, in the order the client learned of things, and never under the client's lock. Lifecycle items are
    // few; events are bounded by _eventCredits, which the receive loop waits for (backpressure).
    private readonly Channel<DispatchItem> _dispatch = Channel.CreateUnbounded<DispatchItem>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
    private readonly SemaphoreSlim _eventCredits;
    private readonly Task _dispatcher;
    private readonly AsyncLocal<bool> _onDispatcher = new();
    private readonly Lock _handlersLock = new();
    private Dictionary<string, HandlerRegistration[]> _handlers = new(StringComparer.Ordinal);
    private Channel<ReceivedEvent>[] _readers = [];

    /// <summary>
    /// Calls <paramref name="handler"/> for every event named <paramref name="eventName"/> (the seed's
    /// <c>on('agent:created', …)</c>), with its data deserialized as <typeparamref name="T"/>
    /// (<see cref="MoltBeatWSClientOptions.JsonSerializerOptions"/>) and the event itself. Data that does not
    /// fit <typeparamref name="T"/> is reported through <see cref="Error"/>.
    /// </summary>
    /// <returns>Dispose it to remove the handler.</returns>
    public IDisposable On<T>(string eventName, Action<T?, ReceivedEvent> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var options = Options.JsonSerializerOptions;
        return On(eventName, e => handler(e.DataAs<T>(options), e));
    }

    /// <summary>Calls <paramref name="handler"/> for every event named <paramref name="eventName"/>.</summary>
    /// <returns>Dispose it to remove the handler.</returns>
    public IDisposable On(string eventName, Action<ReceivedEvent> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        ArgumentNullException.ThrowIfNull(handler);
        var registration = new HandlerRegistration(this, eventName, handler);
        lock (_handlersLock)
        {
            // Copy on write: the dispatcher reads a snapshot without the lock.
            var next = new Dictionary<string, HandlerRegistration[]>(_handlers, StringComparer.Ordinal);
            next[eventName] = next.TryGetValue(eventName, out var existing) ? [.. existing, registration] : [registration];
            _handlers = next;
        }
        return registration;
    }

    /// <summary>Removes every handler registered with <see cref="On{T}"/> for <paramref name="eventName"/>.</summary>
    public void Off(string eventName)
    {
        lock (_handlersLock)
        {
            if (!_handlers.ContainsKey(eventName))
                return;
            var next = new Dictionary<string, HandlerRegistration[]>(_handlers, StringComparer.Ordinal);
            next.Remove(eventName);
            _handlers = next;
        }
    }

    /// <summary>
    /// Every event received from now on, for <c>await foreach</c>, until <paramref name="cancellationToken"/> is
    /// cancelled or the client disposed. Each enumeration has its own buffer of
    /// <see cref="MoltBeatWSClientOptions.EventBufferCapacity"/> events; a reader that falls that far behind holds
    /// up the other handlers until it catches up.
    /// </summary>
    public async IAsyncEnumerable<ReceivedEvent> ReadEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var channel = Channel.CreateBounded<ReceivedEvent>(new BoundedChannelOptions(Options.EventBufferCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        lock (_handlersLock)
            _readers = [.. _readers, channel];
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var received))
                    yield return received;
            }
        }
        finally
        {
            lock (_handlersLock)
                _readers = [.. _readers.Where(r => r != channel)];
            channel.Writer.TryComplete();
        }
    }

    /// <summary>Queues a lifecycle callback for the dispatcher.</summary>
    private void Post(Action raise) => _dispatch.Writer.TryWrite(new DispatchItem(null, raise));

    private void PostError(Exception exception) => Post(() => RaiseError(exception));

    private async Task DispatchLoopAsync()
    {
        _onDispatcher.Value = true;
        while (await _dispatch.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_dispatch.Reader.TryRead(out var item))
            {
                if (item.Event is { } received)
                {
                    try
                    {
                        await DeliverAsync(received).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (item.Credited)
                            _eventCredits.Release();
                    }
                }
                else
                {
                    Invoke(item.Raise!);
                }
            }
        }
    }

    private async Task DeliverAsync(ReceivedEvent received)
    {
        Invoke(() => Event?.Invoke(this, received));
        if (_handlers.TryGetValue(received.Event, out var handlers))
        {
            foreach (var registration in handlers)
            {
                if (!registration.Removed)
                    Invoke(() => registration.Handler(received));
            }
        }
        foreach (var reader in _readers)
        {
            try
            {
                await reader.Writer.WriteAsync(received).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // That enumeration ended meanwhile.
            }
        }
    }

    /// <summary>Runs one user callback; what it throws goes to <see cref="Error"/>, never into the client.</summary>
    private void Invoke(Action callback)
    {
        try
        {
            callback();
        }
        catch (Exception ex)
        {
            RaiseError(ex);
        }
    }

    private void RaiseError(Exception exception)
    {
        try
        {
            Error?.Invoke(this, new MoltBeatErrorEventArgs(exception));
        }
        catch (Exception ex)
        {
            _logger.ErrorHandlerFailed(ex);
        }
    }

    private async Task StopDispatcherAsync()
    {
        _dispatch.Writer.TryComplete();
        Channel<ReceivedEvent>[] readers;
        lock (_handlersLock)
            readers = _readers;
        // Readers end after what they hold (first, so that a full reader cannot hold up the dispatcher); the
        // dispatcher ends after raising what is queued (not awaited from a callback, which runs on it).
        foreach (var reader in readers)
            reader.Writer.TryComplete();
        if (!_onDispatcher.Value)
            await _dispatcher.ConfigureAwait(false);
    }

    /// <summary>An event or a lifecycle callback; <paramref name="Credited"/>: the event holds one of <c>_eventCredits</c>
    /// (events held during a catch-up gave theirs back when they were held).</summary>
    private readonly record struct DispatchItem(ReceivedEvent? Event, Action? Raise, bool Credited = false);

    private sealed class HandlerRegistration(MoltBeatWSClient client, string eventName, Action<ReceivedEvent> handler) : IDisposable
    {
        public Action<ReceivedEvent> Handler { get; } = handler;

        public bool Removed { get; private set; }

        public void Dispose()
        {
            Removed = true;
            lock (client._handlersLock)
            {
                if (!client._handlers.TryGetValue(eventName, out var existing))
                    return;
                var next = new Dictionary<string, HandlerRegistration[]>(client._handlers, StringComparer.Ordinal);
                var remaining = existing.Where(r => r != this).ToArray();
                if (remaining.Length == 0)
                    next.Remove(eventName);
                else
                    next[eventName] = remaining;
                client._handlers = next;
            }
        }
    }
}
