using System.Globalization;
using System.Runtime.InteropServices;
using Mlip.Distributed;

namespace Mlip.Training.Streaming;

public static partial class StreamingLinearFit
{
    /// <summary>
    /// Two ranks of an MPI run (r and r xor 1) sharing the building of their rows once one of them is done with its own share.
    /// The rank that finishes first (the helper) offers help, once what is left of its own rows takes less than the fold of a
    /// full buffer (the partner may be in such a fold when the offer comes), saying how long it is still busy; its partner (the owner), which asks between
    /// sub-pieces of a few structures, hands it the tail [j, end) of its share that makes it end soonest by both ranks' measured
    /// paces (<see cref="HandoverPlan"/>: the owner folds a handed-over piece only once the helper has built it; nothing when the
    /// saving is small); the helper builds those structures' rows (descriptors, derivative blocks, rows: about half the work of a
    /// structure) piece by piece, ahead of the owner's requests, and sends them when asked, and the owner folds them after its
    /// own, in the order it would have built them.
    /// So the owner's factors hold the same rows in the same order and the same fold boundaries (a <see cref="TsqrAccumulator"/>
    /// folds whenever its buffer is full, whatever the calls), whoever built them: the factors, and so the model, are the same
    /// bits whatever j is, that is whatever the cores' speeds and the timing (a row is the same bits on either rank: the same
    /// code and threads; on nodes of different CPU models the vector paths might round differently). Only which rank spends the
    /// time on the rows moves: on vCPUs of unequal or varying speed (docs/scale.md) the static cost split leaves the faster
    /// rank waiting; this gives it the slower rank's descriptors.
    /// </summary>
    /// <remarks>
    /// Messages (tag <see cref="ControlTag"/>, a few doubles): each rank sends its partner exactly one of Done [1, s/pair, s/row,
    /// s still busy] (its offer: its own rows are nearly or wholly built, the seconds it still needs for them and its last fold)
    /// or HandOver [2, j, end] (the answer to the partner's Done; j = end: nothing to hand over); both may send Done at once,
    /// then neither helps. After a HandOver the owner sends Ready [3] for each piece of [j, end) (a sub-piece of one structure
    /// with one thread) when it is about to fold it, and the helper answers with the piece's row counts and right-hand sides,
    /// then its rows (tag <see cref="RowsTag"/>): it builds the pieces ahead, keeping at most one TSQR buffer of rows, so the
    /// owner finds them ready, and sends only when asked (a large blocking send would spin until the owner receives). Waits poll
    /// with a 1 ms sleep (a blocking MPI call would spin on the core).
    /// </remarks>
    private sealed class RowHandover(ICommunicator comm, int partner, DescriptorStore store, double[] pairsOf, ChunkRows rows, int end, int threads, bool awaitPartner)
    {
        private const int ControlTag = 11, RowsTag = 12;
        private const double Done = 1, HandOver = 2, Ready = 3;
        private bool _answered, _offered;
        private double _partnerRowPace = double.NaN, _partnerFoldPace = double.NaN, _partnerPending;

        /// <summary>Whether this rank answered its partner's offer (it hands over the tail of its share, maybe empty).</summary>
        public bool Answered => _answered;

        /// <summary>What happened, for the log and the phase lines (null: nothing was handed over).</summary>
        public string? Detail { get; private set; }

        /// <summary>
        /// Before building the structures from <paramref name="next"/>: when the partner has offered help, hands it [j, end) and
        /// returns j (the new limit of this rank's own rows); else returns <paramref name="limit"/>.
        /// </summary>
        public int Poll(int next, int limit, RowClassFactors factors)
        {
            if (_answered || _offered) return limit; // one control message each way: an offer made is answered in Finish
            if (awaitPartner) // tests: the partner's offer surely comes before this rank's first rows
                while (!comm.HasMessage(partner, ControlTag)) Thread.Sleep(1);
            if (!comm.HasMessage(partner, ControlTag))
            {
                // offer early: the partner answers between its structures, and may be in a fold of a full buffer (the longest
                // step it cannot leave) when the offer comes; once what is left of this rank's own rows takes less than such a
                // fold, offering now makes the answer come about when this rank is done
                double left = OwnTimeLeft(next, limit, factors, out double fullFold);
                if (double.IsFinite(left) && left <= fullFold) Offer(factors, left);
                return limit;
            }
            var message = Doubles(comm.Receive(partner, ControlTag));
            if (message[0] != Done) throw new InvalidOperationException($"rank {comm.Rank}: expected the partner's offer, got message {message[0]}");
            (_partnerRowPace, _partnerFoldPace, _partnerPending) = (message[1], message[2], message[3]);
            _answered = true;
            int j = Split(next, limit, factors);
            comm.Send(Bytes([HandOver, j, limit]), partner, ControlTag);
            return j;
        }

        /// <summary>The end of a sub-piece from <paramref name="start"/>: one structure with one thread, else two per thread.</summary>
        public static int SubPieceEnd(int start, int end, int threads) => Math.Min(end, start + (threads <= 1 ? 1 : 2 * threads));

        /// <summary>
        /// Offers the partner help once this rank's own rows are built (and before its last fold, whose time the offer carries:
        /// the partner may answer while this rank folds); not after answering the partner's offer.
        /// </summary>
        public void Offer(RowClassFactors factors) => Offer(factors, double.NaN);

        /// <summary>The offer, saying that this rank is busy for <paramref name="left"/> more seconds (NaN: its last fold only).</summary>
        private void Offer(RowClassFactors factors, double left)
        {
            if (_answered) throw new InvalidOperationException("a rank that answered its partner's offer does not offer help");
            if (_offered) return;
            _offered = true;
            double rowPace = rows.Pairs > 0 ? rows.RowWallSeconds / rows.Pairs : double.NaN;
            double foldPace = rows.RowCount > 0 ? rows.FoldWallSeconds / rows.RowCount : double.NaN;
            double pending = double.IsFinite(left) ? left : double.IsFinite(foldPace) ? foldPace * factors.BufferedRows : 0;
            comm.Send(Bytes([Done, rowPace, foldPace, pending]), partner, ControlTag);
        }

        /// <summary>
        /// After this rank's own rows up to <paramref name="limit"/>: folds the rows of [limit, end) that the partner builds, or, when
        /// nothing was handed over (the caller has offered help and folded its buffered rows), builds the rows the partner hands it.
        /// </summary>
        public void Finish(RowClassFactors factors, int limit)
        {
            if (_answered)
            {
                foreach (var (a, b) in Parts(limit, end))
                {
                    comm.Send(Bytes([Ready]), partner, ControlTag);
                    var head = Doubles(Wait(RowsTag));
                    var rowBytes = Wait(RowsTag);
                    int nE = (int)head[0], nF = (int)head[1], nS = (int)head[2];
                    rows.Fold(factors, nE, nF, nS, (long)head[3], MemoryMarshal.Cast<byte, double>(rowBytes.AsSpan()), head.AsSpan(4));
                }
                if (limit < end)
                    Detail = string.Create(CultureInfo.InvariantCulture,
                        $"rank {partner} built the rows of structures {limit}..{end - 1} of rank {comm.Rank}'s share (it was done with its own first); rank {comm.Rank} folded them");
                return;
            }
            if (!_offered) throw new InvalidOperationException("Finish before Offer");
            var answer = Doubles(Wait(ControlTag));
            if (answer[0] == Done) return; // both were done at once
            if (answer[0] != HandOver) throw new InvalidOperationException($"rank {comm.Rank}: expected the partner's answer, got message {answer[0]}");
            int j = (int)answer[1], partnerEnd = (int)answer[2];
            // the pieces are built ahead of the partner's requests (it asks for each when it is about to fold it, once its own rows
            // are folded), kept here until asked for: at most BudgetRows rows, which the partner's cut respects
            var built = new Queue<(double[] Head, double[] Rows)>();
            long queued = 0, budget = BudgetRows(factors);
            foreach (var (a, b) in Parts(j, partnerEnd))
            {
                rows.Build(a, b);
                var (nE, nF, nS, pairs) = rows.Counts;
                var head = new double[4 + rows.B.Length];
                (head[0], head[1], head[2], head[3]) = (nE, nF, nS, pairs);
                rows.B.CopyTo(head.AsSpan(4));
                while (built.Count > 0 && comm.HasMessage(partner, ControlTag)) queued -= SendPiece(built.Dequeue());
                if (built.Count == 0 && comm.HasMessage(partner, ControlTag)) SendPiece((head, null)); // asked for already: no copy
                else
                {
                    built.Enqueue((head, rows.A.ToArray()));
                    queued += head.Length - 4;
                    while (queued > budget) queued -= SendPiece(built.Dequeue());
                }
            }
            while (built.Count > 0) SendPiece(built.Dequeue());
            LargeObjectGarbage.Collect();
            if (j < partnerEnd)
                Detail = string.Create(CultureInfo.InvariantCulture,
                    $"rank {comm.Rank} built the rows of structures {j}..{partnerEnd - 1} of rank {partner}'s share (it was done with its own first)");
        }

        /// <summary>Sends a built piece (null rows: the row buffer's) once the partner asks for it; returns its row count.</summary>
        private long SendPiece((double[] Head, double[]? Rows) piece)
        {
            var ready = Doubles(Wait(ControlTag));
            if (ready[0] != Ready) throw new InvalidOperationException($"rank {comm.Rank}: expected the partner's request for rows, got message {ready[0]}");
            comm.Send(Bytes(piece.Head), partner, RowsTag);
            comm.Send(piece.Rows is null ? MemoryMarshal.AsBytes(rows.A) : MemoryMarshal.AsBytes(piece.Rows.AsSpan()), partner, RowsTag);
            return piece.Head.Length - 4;
        }

        /// <summary>
        /// The pieces [start, stop) is handed over in: the store's chunks cut into sub-pieces (<see cref="SubPieceEnd"/>), so that the
        /// owner folds one while the helper builds the next. Both ranks cut the same way.
        /// </summary>
        private List<(int Start, int End)> Parts(int start, int stop)
        {
            var parts = new List<(int, int)>();
            foreach (var (a, b) in Pieces(store, start, stop))
                for (int s = a; s < b; s = SubPieceEnd(s, b, threads)) parts.Add((s, SubPieceEnd(s, b, threads)));
            return parts;
        }

        /// <summary>The most rows the helper keeps built ahead of the owner's requests: one buffer of a TSQR accumulator.</summary>
        private static long BudgetRows(RowClassFactors factors) => TsqrAccumulator.DefaultBufferRows(factors.Columns);

        /// <summary>
        /// The wall seconds this rank still needs for its own rows [next, limit) and its last fold, by its measured pace (NaN before
        /// it has built and folded any), and in <paramref name="fullFold"/> those of the fold of a full buffer.
        /// </summary>
        private double OwnTimeLeft(int next, int limit, RowClassFactors factors, out double fullFold)
        {
            fullFold = 0;
            if (rows.Pairs == 0 || rows.RowCount == 0 || rows.FoldWallSeconds <= 0) return double.NaN;
            double rowPace = rows.RowWallSeconds / rows.Pairs, foldPace = rows.FoldWallSeconds / rows.RowCount;
            int bufferRows = TsqrAccumulator.DefaultBufferRows(factors.Columns);
            fullFold = foldPace * bufferRows;
            double left = 0;
            long tail = factors.BufferedRows;
            for (int s = next; s < limit; s++)
            {
                var st = store.Structures[s];
                if (st.Weight == 0) continue;
                left += pairsOf[s] * rowPace + (1 + 3 * st.Count) * foldPace;
                tail += 1 + 3 * st.Count;
                if (left > fullFold) return left; // enough to know it is more
            }
            return left + foldPace * (tail % bufferRows);
        }

        /// <summary>
        /// Where to cut [next, limit): this rank builds and folds [next, j) and folds [j, limit); the partner builds [j, limit)
        /// (<see cref="HandoverPlan.Cut"/>, by the measured paces: wall seconds per pair for building, per row for folding; a rank that has
        /// measured none takes the other's).
        /// </summary>
        private int Split(int next, int limit, RowClassFactors factors)
        {
            double rowPace = rows.Pairs > 0 ? rows.RowWallSeconds / rows.Pairs : double.NaN;
            double foldPace = rows.RowCount > 0 ? rows.FoldWallSeconds / rows.RowCount : double.NaN;
            double partnerRow = double.IsFinite(_partnerRowPace) && _partnerRowPace > 0 ? _partnerRowPace : rowPace;
            if (!double.IsFinite(rowPace) || rowPace <= 0) rowPace = partnerRow;
            if (!double.IsFinite(foldPace) || foldPace <= 0) foldPace = double.IsFinite(_partnerFoldPace) && _partnerFoldPace > 0 ? _partnerFoldPace : 0;
            if (!double.IsFinite(rowPace) || rowPace <= 0) return limit; // neither has built any rows: no pace to plan by
            int n = limit - next;
            var build = new double[n];
            var fold = new double[n];
            var rowsOf = new long[n];
            for (int s = next; s < limit; s++)
            {
                var st = store.Structures[s];
                if (st.Weight == 0) continue;
                build[s - next] = pairsOf[s] * rowPace;
                rowsOf[s - next] = 1 + 3 * st.Count;
                fold[s - next] = rowsOf[s - next] * foldPace;
            }
            var plan = new HandoverPlan(build, fold, rowsOf, double.IsFinite(_partnerPending) ? _partnerPending : 0, partnerRow / rowPace,
                foldPace, factors.BufferedRows, TsqrAccumulator.DefaultBufferRows(factors.Columns), BudgetRows(factors));
            return next + plan.Cut(MinimumGain);
        }

        /// <summary>
        /// The least predicted saving, as a fraction of this rank's remaining time without a handover, for which it hands over:
        /// the paces are measured on shared cores and vary by ±10 % between pieces, and a handover costs messages and copies.
        /// </summary>
        private const double MinimumGain = 0.1;

        private byte[] Wait(int tag)
        {
            while (!comm.HasMessage(partner, tag)) Thread.Sleep(1);
            return comm.Receive(partner, tag);
        }

        private static byte[] Bytes(double[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

        private static double[] Doubles(byte[] bytes) => MemoryMarshal.Cast<byte, double>(bytes.AsSpan()).ToArray();
    }
}
