using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace SiteRecovery.Compute.Tests.Azure;

/// <summary>
/// Azure Resource Manager's part, played on loopback over https for the Azure target's tests (there is no subscription
/// here): resources kept by id (PUT, GET, DELETE), long-running operations answered the way Resource Manager answers them
/// (201/202 with an <c>Azure-AsyncOperation</c> status URL polled to Succeeded or Failed, then the resource), a region's
/// VM sizes, a VM's instance view and its boot diagnostics (a serial log blob each test writes), every request recorded,
/// and faults injected by the test: throttling with Retry-After, 5xx, a dropped connection, a provisioning that fails.
/// It checks what a client must send (a bearer token, an api-version) and refuses what Resource Manager refuses.
/// </summary>
public sealed partial class ArmStandIn : IAsyncDisposable
{
    public sealed record Request(string Method, string Path, string Query, string? Authorization, JsonNode? Body);

    /// <summary>A fault answered instead of the request it matches, <see cref="Times"/> times.</summary>
    public sealed class Fault(string method, string pathContains, int status, string? retryAfter = null, int times = 1)
    {
        public string Method { get; } = method;
        public string PathContains { get; } = pathContains;
        public int Status { get; } = status;
        public string? RetryAfter { get; } = retryAfter;
        public int Times { get; set; } = times;
    }

    sealed class Operation(Action? onSucceeded, int polls, JsonObject? error)
    {
        public Action? OnSucceeded { get; } = onSucceeded;
        public int Polls { get; set; } = polls;
        public JsonObject? Error { get; } = error;
    }

    readonly WebApplication _app;
    readonly ConcurrentDictionary<string, JsonObject> _resources = new(StringComparer.OrdinalIgnoreCase);
    readonly ConcurrentDictionary<string, Operation> _operations = new();
    readonly object _gate = new();

    public X509Certificate2 Certificate { get; }
    public Uri Endpoint { get; private set; } = null!;
    public ConcurrentQueue<Request> Requests { get; } = new();
    public List<Fault> Faults { get; } = [];
    public List<(string Name, int Cores, int MemoryMb)> Sizes { get; } = [];

    /// <summary>Serial logs by VM name: what boot diagnostics serves; a VM without one has written nothing yet.</summary>
    public ConcurrentDictionary<string, string> SerialLogs { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// When set, what every VM whose creation succeeds writes to its serial log, as a guest that boots would (a test
    /// whose VMs are created by another process, a node, cannot write each one's log when it appears).
    /// </summary>
    public string? BootLog { get; set; }

    /// <summary>VM names whose creation's operation ends Failed with this error code.</summary>
    public ConcurrentDictionary<string, string> FailProvisioning { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Requests whose connection is closed without an answer, once each, by path fragment.</summary>
    public ConcurrentQueue<string> DropConnections { get; } = new();

    /// <summary>How many times an operation answers InProgress before its end.</summary>
    public int PollsPerOperation { get; set; } = 1;

    ArmStandIn(WebApplication app, X509Certificate2 certificate) => (_app, Certificate) = (app, certificate);

    public static async Task<ArmStandIn> StartAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=arm-stand-in", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(2));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        var standIn = new ArmStandIn(app, certificate);
        app.Run(standIn.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetService(typeof(Microsoft.AspNetCore.Hosting.Server.IServer)) is Microsoft.AspNetCore.Hosting.Server.IServer server
            ? server.Features.Get<IServerAddressesFeature>()!.Addresses.First()
            : throw new InvalidOperationException("no server");
        standIn.Endpoint = new Uri(address.Replace("[::1]", "127.0.0.1"));
        return standIn;
    }

    /// <summary>A client handler that trusts this stand-in's certificate and nothing else.</summary>
    public HttpMessageHandler ClientHandler() => new SocketsHttpHandler
    {
        SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == Certificate.GetCertHashString() },
    };

    /// <summary>The resources held now, by id.</summary>
    public IReadOnlyCollection<string> ResourceIds => [.. _resources.Keys];

    public JsonObject? Resource(string idSuffix) => _resources.FirstOrDefault(r => r.Key.EndsWith(idSuffix, StringComparison.OrdinalIgnoreCase)).Value;

    public IEnumerable<Request> Sent(string method, string pathContains) =>
        Requests.Where(r => r.Method == method && r.Path.Contains(pathContains, StringComparison.OrdinalIgnoreCase));

    [GeneratedRegex("^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+)(/[A-Za-z]+)?$", RegexOptions.IgnoreCase)]
    private static partial Regex ResourcePath();

    [GeneratedRegex("^/subscriptions/[^/]+/providers/Microsoft.Compute/locations/[^/]+/vmSizes$", RegexOptions.IgnoreCase)]
    private static partial Regex SizesPath();

    async Task HandleAsync(HttpContext http)
    {
        var path = http.Request.Path.Value ?? "";
        var body = http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0
            ? JsonNode.Parse(await new StreamReader(http.Request.Body).ReadToEndAsync())
            : null;
        Requests.Enqueue(new Request(http.Request.Method, path, http.Request.QueryString.Value ?? "", http.Request.Headers.Authorization.FirstOrDefault(), body));

        if (DropConnections.TryPeek(out var drop) && path.Contains(drop, StringComparison.OrdinalIgnoreCase) && DropConnections.TryDequeue(out _))
        {
            http.Abort();
            return;
        }
        Fault? fault;
        lock (_gate)
        {
            fault = Faults.FirstOrDefault(f => f.Times > 0 && f.Method == http.Request.Method && path.Contains(f.PathContains, StringComparison.OrdinalIgnoreCase));
            if (fault is not null) fault.Times--;
        }
        if (fault is not null)
        {
            if (fault.RetryAfter is not null) http.Response.Headers["Retry-After"] = fault.RetryAfter;
            await Error(http, fault.Status, fault.Status == 429 ? "TooManyRequests" : "InternalServerError", "injected by the test");
            return;
        }

        if (path.StartsWith("/serial/", StringComparison.Ordinal))
        {
            if (SerialLogs.TryGetValue(path["/serial/".Length..], out var log)) await http.Response.WriteAsync(log);
            else http.Response.StatusCode = 404;
            return;
        }
        if (path.StartsWith("/operations/", StringComparison.Ordinal))
        {
            await OperationAsync(http, path["/operations/".Length..]);
            return;
        }
        if (http.Request.Headers.Authorization.FirstOrDefault() is not { } auth || !auth.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            await Error(http, 401, "AuthenticationFailed", "no bearer token");
            return;
        }
        if (!http.Request.Query.ContainsKey("api-version"))
        {
            await Error(http, 400, "MissingApiVersionParameter", "The api-version query parameter is required");
            return;
        }
        if (SizesPath().IsMatch(path) && http.Request.Method == "GET")
        {
            var sizes = new JsonArray([.. Sizes.Select(s => (JsonNode)new JsonObject { ["name"] = s.Name, ["numberOfCores"] = s.Cores, ["memoryInMB"] = s.MemoryMb, ["maxDataDiskCount"] = 4, ["osDiskSizeInMB"] = 1047552, ["resourceDiskSizeInMB"] = 4096 })]);
            await Json(http, 200, new JsonObject { ["value"] = sizes });
            return;
        }
        if (ResourcePath().Match(path) is not { Success: true } m)
        {
            await Error(http, 404, "NotFound", $"the stand-in has no route for {http.Request.Method} {path}");
            return;
        }
        var id = m.Groups[1].Value;
        var action = m.Groups[2].Success ? m.Groups[2].Value.TrimStart('/') : null;
        switch (http.Request.Method, action)
        {
            case ("PUT", null):
                await PutAsync(http, id, body as JsonObject ?? new JsonObject());
                return;
            case ("GET", null):
                if (_resources.TryGetValue(id, out var held)) await Json(http, 200, held);
                else await Error(http, 404, "ResourceNotFound", $"The Resource '{id}' was not found.");
                return;
            case ("DELETE", null):
                await DeleteAsync(http, id);
                return;
            case ("GET", "instanceView"):
                if (!_resources.TryGetValue(id, out var vm)) { await Error(http, 404, "ResourceNotFound", id); return; }
                var state = vm["properties"]?["provisioningState"]?.GetValue<string>() ?? "Creating";
                await Json(http, 200, new JsonObject
                {
                    ["statuses"] = new JsonArray(
                        new JsonObject { ["code"] = $"ProvisioningState/{state.ToLowerInvariant()}", ["level"] = state == "Failed" ? "Error" : "Info", ["displayStatus"] = $"Provisioning {state.ToLowerInvariant()}", ["message"] = vm["failure"]?.GetValue<string>() },
                        new JsonObject { ["code"] = state == "Failed" ? "PowerState/stopped" : "PowerState/running", ["level"] = "Info" }),
                });
                return;
            case ("POST", "retrieveBootDiagnosticsData"):
                if (!_resources.ContainsKey(id)) { await Error(http, 404, "ResourceNotFound", id); return; }
                await Json(http, 200, new JsonObject
                {
                    ["consoleScreenshotBlobUri"] = new Uri(Endpoint, $"/screenshot/{id.Split('/')[^1]}").AbsoluteUri,
                    ["serialConsoleLogBlobUri"] = new Uri(Endpoint, $"/serial/{id.Split('/')[^1]}").AbsoluteUri,
                });
                return;
            default:
                await Error(http, 405, "MethodNotAllowed", $"{http.Request.Method} {path}");
                return;
        }
    }

    async Task PutAsync(HttpContext http, string id, JsonObject body)
    {
        var segments = id.Split('/');
        var resource = (JsonObject)body.DeepClone();
        resource["id"] = id;
        resource["name"] = segments[^1];
        resource["type"] = $"{segments[^3]}/{segments[^2]}";
        var properties = resource["properties"] as JsonObject ?? new JsonObject();
        resource["properties"] = properties;
        properties["provisioningState"] = "Creating";
        var isVm = segments[^2].Equals("virtualMachines", StringComparison.OrdinalIgnoreCase);
        JsonObject? error = null;
        if (isVm && FailProvisioning.TryGetValue(segments[^1], out var code))
            error = new JsonObject { ["code"] = code, ["message"] = $"Provisioning of VM '{segments[^1]}' did not finish ({code})." };
        var existed = _resources.ContainsKey(id);
        _resources[id] = resource;
        var opId = Guid.NewGuid().ToString("n");
        _operations[opId] = new Operation(() =>
        {
            properties["provisioningState"] = "Succeeded";
            if (isVm && BootLog is { } log) SerialLogs.TryAdd(segments[^1], log);
        }, PollsPerOperation, error);
        if (error is not null)
        {
            properties["provisioningState"] = "Failed";
            resource["failure"] = error["message"]!.GetValue<string>();
        }
        http.Response.Headers["Azure-AsyncOperation"] = new Uri(Endpoint, $"/operations/{opId}").AbsoluteUri;
        await Json(http, existed ? 200 : 201, resource);
    }

    async Task DeleteAsync(HttpContext http, string id)
    {
        if (!_resources.ContainsKey(id)) { http.Response.StatusCode = 204; return; }
        var opId = Guid.NewGuid().ToString("n");
        _operations[opId] = new Operation(() => _resources.TryRemove(id, out _), PollsPerOperation, null);
        http.Response.Headers["Azure-AsyncOperation"] = new Uri(Endpoint, $"/operations/{opId}").AbsoluteUri;
        http.Response.Headers.Location = new Uri(Endpoint, $"/operations/{opId}?location=1").AbsoluteUri;
        http.Response.StatusCode = 202;
    }

    async Task OperationAsync(HttpContext http, string opId)
    {
        if (!_operations.TryGetValue(opId, out var op)) { await Error(http, 404, "NotFound", opId); return; }
        var location = http.Request.Query.ContainsKey("location");
        bool done;
        lock (_gate)
        {
            done = op.Polls <= 0;
            if (!done) op.Polls--;
            else if (op.Error is null) op.OnSucceeded?.Invoke();
        }
        if (location) { http.Response.StatusCode = done ? 200 : 202; return; }
        await Json(http, 200, !done ? new JsonObject { ["status"] = "InProgress" }
            : op.Error is null ? new JsonObject { ["status"] = "Succeeded" }
            : new JsonObject { ["status"] = "Failed", ["error"] = op.Error.DeepClone() });
    }

    static async Task Json(HttpContext http, int status, JsonNode body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body.ToJsonString(), Encoding.UTF8);
    }

    static Task Error(HttpContext http, int status, string code, string message) =>
        Json(http, status, new JsonObject { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Certificate.Dispose();
    }
}
