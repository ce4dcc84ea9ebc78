using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace MoltBeat.Server.Tests.Infrastructure;

/// <summary>
/// A webhook receiver on real Kestrel in this process, on a loopback port (a free one unless given): it records each
/// request as it arrives and answers with what <c>respond</c> says for it (a status, after an optional delay).
/// </summary>
public sealed class WebhookTarget : IAsyncDisposable
{
    /// <summary>One request: its number (1 first), body and Content-Type.</summary>
    public sealed record Received(int Number, string Body, string? ContentType)
    {
        /// <summary>The body's bytes as sent (a binary body, such as OTLP protobuf, is not text).</summary>
        public byte[] Raw { get; init; } = [];
    }

    private readonly WebApplication _app;
    private readonly List<Received> _received = [];

    private WebhookTarget(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public IReadOnlyList<Received> Requests
    {
        get
        {
            lock (_received)
                return [.. _received];
        }
    }

    /// <summary>The bodies received so far.</summary>
    public IReadOnlyList<string> Bodies => [.. Requests.Select(r => r.Body)];

    /// <summary>Starts the target; <paramref name="respond"/> gets each request and returns its status (200 when null).</summary>
    public static async Task<WebhookTarget> StartAsync(Func<Received, CancellationToken, Task<int>>? respond = null, int port = 0)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var target = new WebhookTarget(app);
        app.Run(async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var raw = buffer.ToArray();
            Received received;
            lock (target._received)
            {
                received = new Received(target._received.Count + 1, System.Text.Encoding.UTF8.GetString(raw), context.Request.ContentType) { Raw = raw };
                target._received.Add(received);
            }
            try
            {
                context.Response.StatusCode = respond is null ? 200 : await respond(received, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // The sender gave up on this request (its timeout, or it was disposed).
            }
        });
        await app.StartAsync();
        target.Url = new Uri(new Uri(app.Urls.Single()), "/hooks/moltbeat?token=t0ken");
        return target;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, or fails naming <paramref name="what"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (timeout ?? TimeSpan.FromSeconds(15)))
                throw new TimeoutException($"Not within {timeout ?? TimeSpan.FromSeconds(15)}: {what}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _app.StopAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync();
    }
}
