using System.Text.Json;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using VacCnn.Engine.Configuration;
using VacCnn.Engine.Store;

namespace VacCnn.Web.Security;

/// <summary>Accounts and access (<c>VacCnn:Security</c>).</summary>
public sealed class SecurityOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = VacCnnOptions.Section + ":Security";

    /// <summary>Value of <see cref="Browsing"/>: anyone may read pages and JSON.</summary>
    public const string Anonymous = "anonymous";

    /// <summary>Value of <see cref="Browsing"/>: reading needs a signed-in account too.</summary>
    public const string Private = "private";

    /// <summary>The admin's user name.</summary>
    public string AdminUser { get; set; } = "admin";

    /// <summary>
    /// The admin's password as an ASP.NET Core Identity hash (PBKDF2-HMAC-SHA512, salted; make one with
    /// <c>dotnet VacCnn.Web.dll --hash-password</c>). Empty: the account made on the first-run /Setup page is used.
    /// </summary>
    public string AdminPasswordHash { get; set; } = "";

    /// <summary><c>anonymous</c> (default) or <c>private</c>.</summary>
    public string Browsing { get; set; } = Anonymous;

    /// <summary>True when browsing needs an account.</summary>
    public bool IsPrivate => string.Equals(Browsing?.Trim(), Private, StringComparison.OrdinalIgnoreCase);
}

/// <summary>One admin account: user name and password hash.</summary>
public sealed record AdminAccount(string User, string PasswordHash);

/// <summary>
/// The admin account: from configuration (<see cref="SecurityOptions.AdminPasswordHash"/>) or, failing that, from
/// <c>admin-account.json</c> in the data folder, written once by the first-run setup page. Passwords are only ever
/// stored as ASP.NET Core Identity hashes (PBKDF2 with a per-password salt).
/// </summary>
public sealed class AdminAccounts(IOptions<SecurityOptions> security, IOptions<VacCnnOptions> vaccnn)
{
    /// <summary>Shortest password the setup page accepts.</summary>
    public const int MinimumPasswordLength = 10;

    private static readonly PasswordHasher<string> Hasher = new();
    private readonly Lock _gate = new();

    private string AccountFile => Path.Combine(vaccnn.Value.Data, "admin-account.json");

    /// <summary>The configured or stored admin account, or null while none exists.</summary>
    public AdminAccount? Current
    {
        get
        {
            var o = security.Value;
            if (!string.IsNullOrWhiteSpace(o.AdminPasswordHash)) return new AdminAccount(o.AdminUser, o.AdminPasswordHash.Trim());
            if (!File.Exists(AccountFile)) return null;
            return JsonSerializer.Deserialize<AdminAccount>(File.ReadAllText(AccountFile))
                   ?? throw new InvalidDataException($"{AccountFile} is not a valid account file");
        }
    }

    /// <summary>True when the user name and password are the admin's.</summary>
    public bool Verify(string? user, string? password)
    {
        var account = Current;
        if (account == null || string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password)) return false;
        var result = Hasher.VerifyHashedPassword(account.User, account.PasswordHash, password);
        // Compare the name after the (slow) hash check, so timing does not reveal which of the two was wrong.
        return result != PasswordVerificationResult.Failed && string.Equals(user, account.User, StringComparison.Ordinal);
    }

    /// <summary>The hash of <paramref name="password"/> (what goes into <see cref="SecurityOptions.AdminPasswordHash"/>).</summary>
    public static string Hash(string user, string password) => Hasher.HashPassword(user, password);

    /// <summary>
    /// Creates the first admin account (setup page). Returns an error message instead when an account already
    /// exists or the input is unacceptable.
    /// </summary>
    public string? CreateFirst(string? user, string? password)
    {
        user = user?.Trim();
        if (string.IsNullOrEmpty(user) || user.Length > 64 || user.Any(char.IsControl)) return "Choose a user name of 1 to 64 characters.";
        if (password == null || password.Length < MinimumPasswordLength) return $"The password must have at least {MinimumPasswordLength} characters.";
        lock (_gate)
        {
            if (Current != null) return "An admin account already exists.";
            var account = new AdminAccount(user, Hash(user, password));
            AtomicFile.Write(AccountFile, s => JsonSerializer.Serialize(s, account));
        }
        return null;
    }
}
