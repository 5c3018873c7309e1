namespace VacCnn.Web; public partial class Program { public static void Main() { } }
