using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace VacCnn.Web.Tests;

/// <summary>
/// The OpenAPI document (/openapi/v1.json) against the endpoints the host really maps and the answers it really
/// gives: every endpoint is described with its success and problem responses, real responses have exactly the
/// properties their schemas name, and every error is a problem-details body.
/// </summary>
[Collection(ExplanationWebCollection.Name)]
public sealed class OpenApiTests(ExplanationWebFixture app)
{
    private const string Small = ExplanationWebFixture.Small;
    private const string Goldfish = ExplanationWebFixture.Goldfish;

    private async Task<JsonElement> Document()
    {
        using var client = app.Factory.CreateClient();
        var r = await client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return await ExplanationApiTests.Json(r);
    }

    [Fact]
    public async Task Every_mapped_api_endpoint_is_in_the_document_with_its_responses()
    {
        var doc = await Document();
        var paths = doc.GetProperty("paths");
        var mapped = app.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText!.TrimStart('/').StartsWith("api/", StringComparison.Ordinal))
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => (Path: "/" + e.RoutePattern.RawText!.TrimStart('/'), Method: m)))
            .ToList();
        Assert.True(mapped.Count >= 27, $"only {mapped.Count} endpoints found: the route table was not read");
        foreach (var (path, method) in mapped)
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"{method} {path} is not in the OpenAPI document");
            Assert.True(item.TryGetProperty(method.ToLowerInvariant(), out var operation), $"{method} {path}: no {method} operation");
            Assert.False(string.IsNullOrWhiteSpace(operation.GetProperty("summary").GetString()), $"{method} {path} has no summary");
            var responses = operation.GetProperty("responses").EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            Assert.True(responses.Keys.Any(k => k.StartsWith('2')), $"{method} {path} documents no success response");
            // Errors: problem details, 500 at least.
            Assert.Contains("500", responses.Keys);
            foreach (var (status, response) in responses.Where(p => p.Key[0] is '4' or '5'))
                Assert.True(response.GetProperty("content").TryGetProperty("application/problem+json", out _),
                    $"{method} {path} {status} is not documented as problem details");
        }
        // And nothing is documented that is not mapped.
        foreach (var p in paths.EnumerateObject())
            Assert.Contains(p.Name, mapped.Select(m => m.Path));
    }

    [Fact]
    public async Task Real_answers_have_exactly_the_properties_their_schemas_name()
    {
        var doc = await Document();
        using var client = app.Factory.CreateClient();
        string explanation = $"/api/explanations?model={Small}&image={Goldfish}&method=gradcam";
        var checks = new List<(string Url, string Status)>
        {
            ("/api/models", "200"), ("/api/plugins", "200"), ("/api/runs", "200"), ("/api/explainers", "200"), ("/api/metrics", "200"),
            ("/api/classes", "200"), ("/api/overview", "200"), ("/api/images", "200"), ("/api/images?class=1", "200"),
            (explanation, "200"), (explanation.Replace("/api/explanations?", "/api/explanations/map?"), "200"),
            (explanation.Replace("/api/explanations?", "/api/histogram?"), "200"),
            ($"/api/similarity?models={Small},{ExplanationWebFixture.ModelIds[1]}&image={Goldfish}&method=gradcam&metric=ssim", "200"),
            ($"/api/ranking?models={Small}&images={Goldfish}&methods=gradcam", "200"),
            ($"/api/randomisation?model={Small}&image={Goldfish}&method=gradcam&layers=1", "200"),
            ($"/api/models/{Small}/classes", "200"),
            // Errors, each from another part of the API.
            ("/api/explanations?model=nope&image=x&method=gradcam", "404"), ($"/api/explanations?model={Small}&image={Goldfish}&method=gradcam&seed=x", "400"),
            ("/api/runs/nope", "404"), ("/api/models/nope/classes", "404"), ("/api/compare/graphs?a=x", "400"), ("/api/images?class=5000", "400"),
            ("/api/ranking?models=&images=&methods=", "400"),
        };
        var paths = doc.GetProperty("paths");
        foreach (var (url, status) in checks)
        {
            var r = await ExplanationApiTests.UntilDone(client, url);
            Assert.True(((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) == status,
                $"{url}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
            string path = new Uri("http://h" + url).AbsolutePath;
            string template = paths.EnumerateObject().Select(p => p.Name).Single(t => Matches(t, path));
            var responses = paths.GetProperty(template).GetProperty("get").GetProperty("responses");
            Assert.True(responses.TryGetProperty(status, out var response), $"{template} does not document {status}: {responses}");
            var content = response.GetProperty("content");
            string mediaType = status[0] == '2' ? "application/json" : "application/problem+json";
            Assert.StartsWith(mediaType, r.Content.Headers.ContentType!.ToString());
            var schema = content.GetProperty(mediaType).GetProperty("schema");
            var body = await ExplanationApiTests.Json(r);
            Conforms(doc, schema, body, url, extensible: status[0] != '2'); // problem details may carry extension members
            if (status[0] != '2')
            {
                Assert.Equal(int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), body.GetProperty("status").GetInt32());
                Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("title").GetString()), url);
                Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("detail").GetString()), url);
            }
        }
    }

    // "/api/models/{id}/classes" matches "/api/models/x/classes".
    private static bool Matches(string template, string path)
    {
        var t = template.Split('/');
        var p = path.Split('/');
        return t.Length == p.Length && t.Zip(p).All(x => x.First.StartsWith('{') || x.First == x.Second);
    }

    /// <summary>
    /// A small structural validator: an object has its schema's required properties and no others (unless the schema
    /// or the caller allows extensions), values have the schema's types, arrays' items conform, <c>$ref</c>s are followed.
    /// </summary>
    private static void Conforms(JsonElement doc, JsonElement schema, JsonElement value, string where, bool extensible = false)
    {
        schema = Resolve(doc, schema);
        if (schema.TryGetProperty("oneOf", out var oneOf) || schema.TryGetProperty("anyOf", out oneOf))
        {
            var options = oneOf.EnumerateArray().Select(s => Resolve(doc, s)).ToList();
            if (value.ValueKind == JsonValueKind.Null) { Assert.Contains(options, o => IsNullType(o)); return; }
            schema = options.First(o => !IsNullType(o));
        }
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when schema.TryGetProperty("properties", out var properties):
                var named = properties.EnumerateObject().Select(p => p.Name).ToHashSet();
                var actual = value.EnumerateObject().Select(p => p.Name).ToHashSet();
                extensible |= schema.TryGetProperty("additionalProperties", out var extra) && extra.ValueKind != JsonValueKind.False;
                Assert.True(extensible || actual.IsSubsetOf(named), $"{where}: properties not in the schema: {string.Join(", ", actual.Except(named))}");
                var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(x => x.GetString()!).ToHashSet() : [];
                Assert.True(required.IsSubsetOf(actual), $"{where}: required properties missing from the answer: {string.Join(", ", required.Except(actual))}");
                foreach (var p in value.EnumerateObject().Where(p => named.Contains(p.Name)))
                    Conforms(doc, properties.GetProperty(p.Name), p.Value, where + "." + p.Name);
                break;
            case JsonValueKind.Array:
                Assert.True(HasType(schema, "array"), $"{where}: an array where the schema says {schema}");
                if (schema.TryGetProperty("items", out var items))
                    foreach (var item in value.EnumerateArray().Take(50)) Conforms(doc, items, item, where + "[]");
                break;
            case JsonValueKind.String:
                Assert.True(HasType(schema, "string"), $"{where}: a string where the schema says {schema}");
                break;
            case JsonValueKind.Number:
                Assert.True(HasType(schema, "number") || HasType(schema, "integer"), $"{where}: a number where the schema says {schema}");
                break;
            case JsonValueKind.True or JsonValueKind.False:
                Assert.True(HasType(schema, "boolean"), $"{where}: a boolean where the schema says {schema}");
                break;
            case JsonValueKind.Null:
                Assert.True(IsNullType(schema) || HasType(schema, "null"), $"{where}: null where the schema says {schema}");
                break;
        }
    }

    private static JsonElement Resolve(JsonElement doc, JsonElement schema)
    {
        while (schema.TryGetProperty("$ref", out var reference))
        {
            var node = doc;
            foreach (string part in reference.GetString()!.TrimStart('#', '/').Split('/')) node = node.GetProperty(part);
            schema = node;
        }
        return schema;
    }

    private static bool IsNullType(JsonElement schema) =>
        schema.TryGetProperty("type", out var t) && (t.ValueKind == JsonValueKind.String ? t.GetString() == "null" : t.EnumerateArray().All(x => x.GetString() == "null"));

    // OpenAPI 3.1: "type" is a name or a list of names (["null", "string"] for a nullable string); no type = anything.
    private static bool HasType(JsonElement schema, string type) =>
        !schema.TryGetProperty("type", out var t)
        || (t.ValueKind == JsonValueKind.String ? t.GetString() == type : t.EnumerateArray().Any(x => x.GetString() == type))
        || (type == "number" && HasTypeExactly(t, "integer"));

    private static bool HasTypeExactly(JsonElement t, string type) =>
        t.ValueKind == JsonValueKind.String ? t.GetString() == type : t.EnumerateArray().Any(x => x.GetString() == type);
}
