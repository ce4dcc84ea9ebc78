using System.Net;
using System.Text;
using System.Text.Json;
using MoltBeat.Server.Tests.Infrastructure;

namespace MoltBeat.Server.Tests;

/// <summary>What the JS client's integration tests rely on: an open server on --urls, POST /api/publish → 200 {published, offsets}.</summary>
public sealed class ContractTests
{
    [Fact]
    public async Task Open_server_on_urls_publishes_without_credentials()
    {
        await using var server = await ServerProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = server.HttpUrl, Timeout = TimeSpan.FromSeconds(10) };
        await using var client = await WsClient.ConnectAsync(server.WsUrl());
        await client.SubscribeAsync("analytics:agents");
        using var content = new StringContent("""{"room":"analytics:agents","event":"agent:created","data":{"id":"1"}}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri("/api/publish", UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(body.GetProperty("published").GetBoolean());
        Assert.Equal(1, body.GetProperty("offsets").GetProperty("analytics:agents").GetInt64());
        var evt = await client.ReceiveEventAsync("agent:created");
        Assert.Equal(1, evt.GetProperty("offsets").GetProperty("analytics:agents").GetInt64());
        var info = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/info", UriKind.Relative))).RootElement;
        Assert.False(info.GetProperty("publishAuthRequired").GetBoolean());
    }
}
