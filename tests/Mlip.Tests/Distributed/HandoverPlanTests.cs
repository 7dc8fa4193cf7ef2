using Mlip.Training.Streaming;

namespace Mlip.Tests.Distributed;

/// <summary>
/// The cut of the rows' handover (<see cref="HandoverPlan"/>): the owner's end is a pipeline (a handed-over structure is folded only
/// once the helper has built it and the owner is done with the one before), the tail respects the helper's budget of rows, and
/// nothing is handed over when the predicted saving is small (equal cores, a balanced static split).
/// </summary>
public class HandoverPlanTests
{
    /// <summary>n equal structures of 1 s to build and 1 s to fold on the owner, 100 rows each; buffers of 1000 rows.</summary>
    private static HandoverPlan Plan(int n, double helperStart, double helperRatio, long budgetRows = 100_000, long buffered = 0) =>
        new(Enumerable.Repeat(1.0, n).ToArray(), Enumerable.Repeat(1.0, n).ToArray(), Enumerable.Repeat(100L, n).ToArray(),
            helperStart, helperRatio, 0.001, buffered, 1000, budgetRows);

    [Fact]
    public void The_owners_end_is_the_pipeline_of_the_helpers_builds_and_its_own_folds()
    {
        var plan = Plan(4, helperStart: 0.5, helperRatio: 1);
        double lastFold = 0.001 * (400 % 1000);
        Assert.Equal(8 + lastFold, plan.End(4), 12);                     // all its own: 4 × (1 + 1)
        // one handed over: own 3 × 2 = 6 s; the helper has it at 1.5 s; the owner folds it at 6 s: 7 s
        Assert.Equal(7 + lastFold, plan.End(3), 12);
        // all four handed over: the helper delivers at 1.5, 2.5, 3.5, 4.5 s; the owner folds each for 1 s from 1.5 s on: 5.5 s,
        // not the 4.5 s of max(own folds 4, helper builds 4.5) that the earlier cut took
        Assert.Equal(5.5 + lastFold, plan.End(0), 12);
    }

    [Fact]
    public void A_slower_owner_hands_over_the_tail_that_ends_it_soonest()
    {
        // the owner is 1.5 times slower than the helper, which is busy 3 s more: 10 structures of 2 s each on the owner
        var plan = Plan(10, helperStart: 3, helperRatio: 1 / 1.5);
        int cut = plan.Cut(0.1);
        Assert.Equal(2, cut); // own 4 s, then the helper's builds arrive at 3.67, 4.33, ... s and the owner folds 8 of 1 s: 12 s
        for (int i = 0; i <= 10; i++) Assert.True(plan.End(cut) <= plan.End(i) + 1e-12, $"cut {cut}: end {plan.End(cut)} > {plan.End(i)} at {i}");
        Assert.Equal(12, plan.End(cut), 12);
        // a helper faster than the owner folds takes all: the owner only folds
        Assert.Equal(0, Plan(10, helperStart: 0, helperRatio: 1 / 1.5).Cut(0.1));
    }

    [Fact]
    public void Nothing_is_handed_over_when_the_saving_is_below_the_minimum()
    {
        // equal cores, the helper free 3 s before the owner's 4 structures (8 s) are done: one handed over saves 1 s of 8.4
        var plan = Plan(4, helperStart: 5, helperRatio: 1);
        Assert.Equal(3, plan.Cut(0.1));
        Assert.Equal(4, plan.Cut(0.25));
        // a helper that is busy longer than the owner's whole remaining work gets nothing at any minimum
        Assert.Equal(4, Plan(4, helperStart: 10, helperRatio: 1).Cut(0));
    }

    [Fact]
    public void The_tail_stays_within_the_helpers_budget_of_rows()
    {
        // a much faster helper would take most of the 20 structures; its budget of 350 rows allows three (100 rows each)
        var plan = Plan(20, helperStart: 0, helperRatio: 0.2, budgetRows: 350);
        Assert.Equal(17, plan.Cut(0.01));
        Assert.True(Plan(20, helperStart: 0, helperRatio: 0.2).Cut(0.01) < 17);
    }
}
