using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using VacCnn.TestSupport;

namespace VacCnn.Web.Tests;

/// <summary>
/// Users' own photos through <c>POST /api/images</c>: stored content-addressed, usable as any sample image (the
/// explanation with its quality columns, the similarity matrix), and every kind of bad upload refused with a clear
/// 4xx while nothing is stored.
/// </summary>
[Collection(ExplanationWebCollection.Name)]
public sealed class UploadApiTests(ExplanationWebFixture app)
{
    private const string Small = ExplanationWebFixture.Small;

    // A real photo that is not in the fixture's image set.
    private static readonly string SharkFile = Path.Combine(TestPaths.ImageNetSamples, "n01484850_great_white_shark.JPEG");

    private static Task<JsonElement> Json(HttpResponseMessage r) => ExplanationApiTests.Json(r);

    private static MultipartFormDataContent Form(byte[] bytes, string field = "file", string fileName = "photo.jpg", string type = "image/jpeg")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return new MultipartFormDataContent { { content, field, fileName } };
    }

    private static async Task<HttpResponseMessage> Post(HttpClient client, byte[] bytes, string fileName = "photo.jpg") =>
        await client.PostAsync("/api/images", Form(bytes, fileName: fileName));

    private static byte[] Png(int width, int height, int seed, bool noise = false)
    {
        using var image = new Image<Rgb24>(width, height);
        var rng = new Random(seed);
        var colour = new Rgb24((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = noise ? new Rgb24((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)) : colour;
        using var ms = new MemoryStream();
        image.SaveAsPng(ms);
        return ms.ToArray();
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static Task<HttpResponseMessage> UntilDone(HttpClient client, string url) => ExplanationApiTests.UntilDone(client, url);

    [Fact]
    public async Task An_uploaded_photo_is_stored_by_its_content_and_explained_like_a_sample_without_ground_truth()
    {
        using var client = app.Factory.CreateClient();
        var bytes = await File.ReadAllBytesAsync(SharkFile);
        // The client's file name is hostile; it must not matter.
        var r = await Post(client, bytes, fileName: "../../etc/passwd.jpg");
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await Json(r);
        string id = body.GetProperty("id").GetString()!;
        Assert.Equal($"uploads/{Sha256(bytes)}.jpg", id);
        Assert.Equal("jpeg", body.GetProperty("format").GetString());
        var info = Image.Identify(bytes);
        Assert.Equal(info.Width, body.GetProperty("width").GetInt32());
        Assert.Equal(info.Height, body.GetProperty("height").GetInt32());
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(app.Data.Path, "uploads", Sha256(bytes) + ".jpg")));
        Assert.Equal(bytes, await (await client.GetAsync(body.GetProperty("url").GetString())).Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(body.GetProperty("thumbUrl").GetString())).StatusCode);

        // The same bytes again: the same id, nothing new stored.
        var again = await Post(client, bytes, fileName: "other-name.jpg");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(id, (await Json(again)).GetProperty("id").GetString());
        Assert.True((await Json(again)).GetProperty("existing").GetBoolean());

        // Explained like a sample: prediction, map, quality; no ground truth.
        var done = await UntilDone(client, $"/api/explanations?model={Small}&image={Uri.EscapeDataString(id)}&method=gradcam");
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var explanation = await Json(done);
        Assert.Equal(id, explanation.GetProperty("image").GetString());
        Assert.Equal(JsonValueKind.Null, explanation.GetProperty("groundTruthIndex").ValueKind);
        Assert.Equal(info.Width, explanation.GetProperty("width").GetInt32());
        ExplanationApiTests.AssertQuality(explanation);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(explanation.GetProperty("pngUrl").GetString())).StatusCode);
        var histogram = await UntilDone(client, $"/api/histogram?model={Small}&image={Uri.EscapeDataString(id)}&method=gradcam");
        Assert.Equal(HttpStatusCode.OK, histogram.StatusCode);
        var similarity = await UntilDone(client,
            $"/api/similarity?models={string.Join(',', ExplanationWebFixture.ModelIds[..2])}&image={Uri.EscapeDataString(id)}&method=gradcam&metric=ssim");
        Assert.Equal(HttpStatusCode.OK, similarity.StatusCode);
        Assert.Equal(2, (await Json(similarity)).GetProperty("matrix").GetArrayLength());
    }

    public static TheoryData<string, int, string> BadUploads() => new()
    {
        { "text", 415, "JPEG, PNG and WebP" },
        { "html-named-jpg", 415, "content" },
        { "truncated-jpeg", 422, "truncated" },
        { "truncated-png", 422, "truncated" },
        { "empty", 422, "empty" },
        { "png-header-only", 422, "truncated" },
        { "huge-dimensions", 413, "megapixels" },
    };

    private static byte[] Bad(string kind)
    {
        var jpeg = File.ReadAllBytes(SharkFile);
        var png = Png(64, 48, seed: 3);
        return kind switch
        {
            "text" => "just some text, not a picture"u8.ToArray(),
            "html-named-jpg" => "<html><script>alert(1)</script></html>"u8.ToArray(),
            "truncated-jpeg" => jpeg[..(jpeg.Length / 2)],
            "truncated-png" => png[..(png.Length - 20)],
            "empty" => [],
            "png-header-only" => png[..33],
            // A complete PNG whose header claims 30000 × 30000 pixels.
            "huge-dimensions" => WithSize(png, 30000, 30000),
            _ => throw new ArgumentException(kind),
        };
    }

    // Rewrites the IHDR width and height (bytes 16–23) and its CRC, keeping the rest of a valid PNG.
    private static byte[] WithSize(byte[] png, int width, int height)
    {
        var b = (byte[])png.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), height);
        uint crc = Crc32(b.AsSpan(12, 17)); // chunk type and data
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), crc);
        return b;
    }

    // PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), bit by bit.
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Theory]
    [MemberData(nameof(BadUploads))]
    public async Task Bad_uploads_are_refused_with_a_clear_4xx_and_nothing_is_stored(string kind, int status, string mentioned)
    {
        using var client = app.Factory.CreateClient();
        string folder = Path.Combine(app.Data.Path, "uploads");
        var before = Directory.Exists(folder) ? Directory.GetFiles(folder).Order().ToList() : [];
        var r = await Post(client, Bad(kind));
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Contains(mentioned, (await Json(r)).GetProperty("detail").GetString());
        Assert.Equal(before, Directory.Exists(folder) ? Directory.GetFiles(folder).Order().ToList() : []);
    }

    [Fact]
    public async Task Requests_without_a_file_field_are_refused()
    {
        using var client = app.Factory.CreateClient();
        var wrongField = await client.PostAsync("/api/images", Form(Png(8, 8, 1), field: "photo"));
        Assert.Equal(HttpStatusCode.BadRequest, wrongField.StatusCode);
        Assert.Contains("'file'", (await Json(wrongField)).GetProperty("detail").GetString());
        var notMultipart = await client.PostAsync("/api/images", new ByteArrayContent(Png(8, 8, 1)));
        Assert.Equal(HttpStatusCode.BadRequest, notMultipart.StatusCode);
        Assert.Contains("multipart/form-data", (await Json(notMultipart)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Uploads_are_capped_in_size_pixels_and_count_with_the_oldest_deleted_first()
    {
        using var data = new TempDir("vaccnn-upload-caps");
        var factory = app.Create(capacity: 8, models: app.ModelsRoot, data: data.Path, new Dictionary<string, string?>
        {
            ["VacCnn:UploadMegabytes"] = "1",
            ["VacCnn:UploadMegapixels"] = "1",
            ["VacCnn:MaxUploads"] = "2",
        });
        using var client = factory.CreateClient();
        // 700 × 700 of noise: about 1.4 MB as PNG, past the 1 MB limit (refused before decoding).
        var tooBig = await Post(client, Png(700, 700, 1, noise: true), "big.png");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Contains("1 MB", (await Json(tooBig)).GetProperty("detail").GetString());
        // 1100 × 1000 of one colour: a small file but 1.1 megapixels.
        var tooManyPixels = await Post(client, Png(1100, 1000, 2), "wide.png");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooManyPixels.StatusCode);
        Assert.Contains("megapixels", (await Json(tooManyPixels)).GetProperty("detail").GetString());
        Assert.False(Directory.Exists(Path.Combine(data.Path, "uploads")) && Directory.GetFiles(Path.Combine(data.Path, "uploads")).Length > 0);

        var ids = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var r = await Post(client, Png(32, 32, 10 + i), $"{i}.png");
            Assert.Equal(HttpStatusCode.Created, r.StatusCode);
            ids.Add((await Json(r)).GetProperty("id").GetString()!);
            await Task.Delay(20); // distinct modification times
        }
        Assert.Equal(2, Directory.GetFiles(Path.Combine(data.Path, "uploads")).Length);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/images/{Uri.EscapeDataString(ids[0])}/file")).StatusCode);
        foreach (string id in ids[1..])
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/images/{Uri.EscapeDataString(id)}/file")).StatusCode);
    }

    [Theory]
    [InlineData("VacCnn:Security:Browsing", "private")]
    [InlineData("VacCnn:Uploads", "false")]
    public async Task Uploads_are_disabled_by_private_browsing_or_by_configuration(string key, string value)
    {
        using var data = new TempDir("vaccnn-upload-off");
        var factory = app.Create(capacity: 8, models: app.ModelsRoot, data: data.Path, new Dictionary<string, string?> { [key] = value });
        using var client = factory.CreateClient(); // a local client: allowed to browse even in private mode
        var r = await Post(client, Png(16, 16, 5), "x.png");
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Contains("disabled", (await Json(r)).GetProperty("detail").GetString());
        Assert.False(Directory.Exists(Path.Combine(data.Path, "uploads")));
    }
}
