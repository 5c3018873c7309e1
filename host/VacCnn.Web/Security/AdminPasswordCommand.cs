namespace VacCnn.Web.Security;

/// <summary>
/// <c>dotnet VacCnn.Web.dll --hash-password [user]</c>: reads a password from standard input and prints the value for
/// <c>VacCnn:Security:AdminPasswordHash</c>, so that no plain password ever goes into a configuration file.
/// </summary>
public static class AdminPasswordCommand
{
    /// <summary>Runs the command when <paramref name="args"/> ask for it; false otherwise (start the host).</summary>
    public static bool TryRun(string[] args, out int exitCode)
    {
        exitCode = 0;
        int at = Array.IndexOf(args, "--hash-password");
        if (at < 0) return false;
        string user = at + 1 < args.Length && !args[at + 1].StartsWith("--", StringComparison.Ordinal) ? args[at + 1] : "admin";
        if (!Console.IsInputRedirected) Console.Error.Write($"password for {user}: ");
        string? password = Console.ReadLine();
        if (string.IsNullOrEmpty(password) || password.Length < AdminAccounts.MinimumPasswordLength)
        {
            Console.Error.WriteLine($"error: the password must have at least {AdminAccounts.MinimumPasswordLength} characters");
            exitCode = 2;
            return true;
        }
        Console.WriteLine(AdminAccounts.Hash(user, password));
        return true;
    }
}
