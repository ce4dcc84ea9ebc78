using MoltBeat.WebSocket.Protocol;

namespace MoltBeat.WebSocket.Tests.Hardening;

/// <summary>
/// Replays the fuzz corpus (Hardening/Corpus: one client message per file, kept because each once broke
/// something or sits on an edge) through the parser and through a real server. Add a file whenever a fuzz
/// run finds a new failure; <c>.bin</c> files hold bytes that are not valid UTF-8.
/// </summary>
public sealed class CorpusReplayTests
{
    public static string CorpusDirectory => Path.Combine(AppContext.BaseDirectory, "Hardening", "Corpus");

    private static (string Name, byte[] Bytes)[] Corpus() =>
        [.. Directory.GetFiles(CorpusDirectory).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f)))];

    [Fact]
    public void Every_corpus_input_parses_to_a_request_or_a_bad_request_error_without_throwing()
    {
        var corpus = Corpus();
        Assert.True(corpus.Length >= 30, $"corpus has {corpus.Length} inputs");
        var failures = new List<string>();
        foreach (var (name, bytes) in corpus)
        {
            try
            {
                ParserPropertyTests.AssertWellFormed(bytes, ClientRequestParser.Parse(bytes));
            }
            catch (Exception ex)
            {
                failures.Add($"{name}: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task Every_corpus_input_sent_to_a_real_server_gets_a_json_reply_or_a_protocol_close()
    {
        await using var server = await HardServer.StartAsync();
        var failures = new List<string>();
        foreach (var (name, bytes) in Corpus())
        {
            using var socket = await RawFrameSocket.ConnectAsync(server.WsUri("batch=0"));
            // The input, then a probe: either both are answered, or the server closed with a protocol code.
            await socket.TrySendAsync(new RawFrame(1, bytes), RawFrame.Text("{\"type\":\"ping\",\"id\":424242}"));
            var reaction = await socket.ReadAsync(TimeSpan.FromSeconds(5), t => t.Contains("424242", StringComparison.Ordinal));
            try
            {
                Assert.False(reaction.TimedOut, "no reply and no close");
                Assert.False(reaction.ConnectionDropped, "dropped without a close frame");
                foreach (var text in reaction.Texts)
                    ServerReplies.AssertValid(text);
                if (reaction.CloseCode is { } code)
                    Assert.Contains(code, ServerReplies.ProtocolCloses);
                else
                    Assert.Equal(3, reaction.Texts.Count); // connected, the reply to the input, the pong
            }
            catch (Exception ex)
            {
                failures.Add($"{name}: {ex.Message} (texts: {string.Join(" | ", reaction.Texts)}, close {reaction.CloseCode})");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        await server.AssertNoConnectionsAsync(TimeSpan.FromSeconds(10));
        await server.AssertServesANewClientAsync();
        server.AssertNoErrorsLogged();
    }
}
