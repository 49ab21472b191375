using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Fle.Tests.Infrastructure;

/// <summary>Marks a test class whose tests need the PostgreSQL server named by FLE_TEST_PG.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>
/// A fact of the backend contract. Declared once (in the abstract contract class) and run by each concrete
/// backend class; in a class marked <see cref="RequiresPostgresAttribute"/> it is skipped, with the reason,
/// when FLE_TEST_PG is absent outside CI. In CI (CI=true) it is never skipped: the fixture fails instead.
/// </summary>
[XunitTestCaseDiscoverer("Fle.Tests.Infrastructure.ContractFactDiscoverer", "Fle.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ContractFactAttribute : FactAttribute;

/// <summary>The theory counterpart of <see cref="ContractFactAttribute"/>.</summary>
[XunitTestCaseDiscoverer("Fle.Tests.Infrastructure.ContractTheoryDiscoverer", "Fle.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ContractTheoryAttribute : TheoryAttribute;

internal static class BackendSkip
{
    public static string? For(ITestMethod method)
    {
        var needsPg = method.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute).AssemblyQualifiedName).Any();
        return needsPg ? PostgresEnvironment.SkipReason : null;
    }
}

public sealed class ContractFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
        => new BackendTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
}

public sealed class ContractTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo theoryAttribute)
    {
        if (BackendSkip.For(testMethod) is not null)
            return [new BackendTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
        return base.Discover(discoveryOptions, testMethod, theoryAttribute);
    }
}

/// <summary>A test case whose skip reason is decided by the backend its class needs.</summary>
public sealed class BackendTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public BackendTestCase() { }

    public BackendTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay,
        TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod, object[]? testMethodArguments = null)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod, testMethodArguments) { }

    protected override string GetSkipReason(IAttributeInfo factAttribute)
        => base.GetSkipReason(factAttribute) ?? BackendSkip.For(TestMethod)!;
}
