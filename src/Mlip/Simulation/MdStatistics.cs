namespace Mlip.Simulation;

/// <summary>
/// Running averages of an MD run, fed by <see cref="MolecularDynamics.Observer"/>: mean temperature and
/// pressure (NaN, i.e. not applicable, unless every sample had one: <see cref="MdState.HasPressure"/>), and the drift of the conserved energy (least-squares slope over time, eV per atom per ps).
/// </summary>
public sealed class MdStatistics(IIntegrator integrator)
{
    private long _n, _nP;
    private double _sumT, _sumP, _sumV;
    private double _st, _se, _stt, _ste; // for the slope of conserved energy vs time
    private double _first = double.NaN, _last;

    public long Samples => _n;
    public double MeanTemperature => _n > 0 ? _sumT / _n : double.NaN;
    public double MeanPressure => _n > 0 && _nP == _n ? _sumP / _n : double.NaN;
    public double MeanVolume => _n > 0 && _nP == _n ? _sumV / _n : double.NaN;
    public double InitialConservedEnergy => _first;
    public double FinalConservedEnergy => _last;
    public int Atoms { get; private set; }

    /// <summary>Slope of the conserved energy over time, eV/atom/ps (NaN before two samples).</summary>
    public double DriftPerAtomPerPs
    {
        get
        {
            if (_n < 2 || Atoms == 0) return double.NaN;
            double d = _n * _stt - _st * _st;
            if (d <= 0) return 0;
            double slopePerFs = (_n * _ste - _st * _se) / d;
            return slopePerFs * 1000.0 / Atoms;
        }
    }

    public void Observe(MdState s)
    {
        double e = integrator.ConservedEnergy(s);
        if (double.IsNaN(_first)) _first = e;
        _last = e;
        Atoms = s.Count;
        _n++;
        _sumT += s.Temperature;
        if (s.HasPressure) { _nP++; _sumP += s.Pressure; _sumV += s.Volume; }
        double t = s.Time, de = e - _first;
        _st += t; _se += de; _stt += t * t; _ste += t * de;
    }
}
