using System.Numerics;
using System.Runtime.CompilerServices;

namespace VacCnn.Engine.Analytics;

/// <summary>
/// A quadtree over a 2-D layout for the repulsive half of the t-SNE gradient (Barnes-Hut). Nodes are stored in
/// depth-first order, so a node's first child is the next node and <c>Skip</c> is the node after its subtree: the
/// traversal is a loop without a stack. Points are copied in tree order, so a leaf's points are contiguous.
/// Rebuilt every iteration (O(n log n)); the arrays are reused.
/// </summary>
internal sealed class BarnesHutTree
{
    private const int LeafSize = 8;
    private const int MaxDepth = 48; // identical points: stop splitting (their cell has size 0 and is summarised)

    private int _nodes;
    private double[] _comX = [], _comY = [], _size2 = [], _minX = [], _maxX = [], _minY = [], _maxY = [];
    private readonly List<int> _leaves = [];
    private int[] _count = [], _skip = [], _first = [], _leafCount = [];
    private double[] _px = [], _py = [];
    private int[] _order = [];

    /// <summary>Points in tree order (indices into the layout).</summary>
    public int[] Order => _order;

    /// <summary>Builds the tree over (x, y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Build(float[] x, float[] y)
    {
        int n = x.Length;
        if (_order.Length != n)
        {
            _order = new int[n]; _px = new double[n]; _py = new double[n];
            int capacity = 4 * (n / LeafSize + 1) + 64;
            Grow(capacity);
        }
        for (int i = 0; i < n; i++) _order[i] = i;
        _nodes = 0;
        _leaves.Clear();
        if (n > 0) BuildNode(x, y, 0, n, 0);
        for (int t = 0; t < n; t++) { _px[t] = x[_order[t]]; _py[t] = y[_order[t]]; }
    }

    private void Grow(int capacity)
    {
        Array.Resize(ref _comX, capacity); Array.Resize(ref _comY, capacity); Array.Resize(ref _size2, capacity);
        Array.Resize(ref _count, capacity); Array.Resize(ref _skip, capacity); Array.Resize(ref _first, capacity);
        Array.Resize(ref _leafCount, capacity);
        Array.Resize(ref _minX, capacity); Array.Resize(ref _maxX, capacity); Array.Resize(ref _minY, capacity); Array.Resize(ref _maxY, capacity);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void BuildNode(float[] x, float[] y, int start, int end, int depth)
    {
        if (_nodes == _comX.Length) Grow(_comX.Length * 2);
        int node = _nodes++;
        double sx = 0, sy = 0, minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        for (int t = start; t < end; t++)
        {
            int i = _order[t];
            double a = x[i], b = y[i];
            sx += a; sy += b;
            if (a < minX) minX = a; if (a > maxX) maxX = a;
            if (b < minY) minY = b; if (b > maxY) maxY = b;
        }
        int count = end - start;
        _comX[node] = sx / count; _comY[node] = sy / count; _count[node] = count;
        double size = Math.Max(maxX - minX, maxY - minY);
        _size2[node] = size * size;
        _first[node] = start;
        _minX[node] = minX; _maxX[node] = maxX; _minY[node] = minY; _maxY[node] = maxY;
        if (count <= LeafSize || depth >= MaxDepth || size == 0)
        {
            _leafCount[node] = count;
            _skip[node] = _nodes;
            _leaves.Add(node);
            return;
        }
        _leafCount[node] = 0;
        // Split at the centre of the bounding box: by x, then each half by y.
        double cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
        int midX = Partition(x, start, end, cx);
        int lowLeft = Partition(y, start, midX, cy), lowRight = Partition(y, midX, end, cy);
        Span<int> bounds = [start, lowLeft, midX, lowRight, end];
        for (int q = 0; q < 4; q++)
            if (bounds[q + 1] > bounds[q]) BuildNode(x, y, bounds[q], bounds[q + 1], depth + 1);
        _skip[node] = _nodes;
    }

    // Moves the points of [start, end) with coordinate < split to the front; returns where the rest begin.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Partition(float[] coordinate, int start, int end, double split)
    {
        int lo = start, hi = end - 1;
        while (lo <= hi)
        {
            if (coordinate[_order[lo]] < split) lo++;
            else { (_order[lo], _order[hi]) = (_order[hi], _order[lo]); hi--; }
        }
        return lo;
    }

    /// <summary>Leaf nodes in tree order: the groups that <see cref="Repulsion"/> works on.</summary>
    public int LeafCount => _leaves.Count;

    /// <summary>The tree positions (indices into <see cref="Order"/>) of leaf <paramref name="leafNumber"/>'s points.</summary>
    public (int First, int Count) PositionsOf(int leafNumber)
    {
        int leaf = _leaves[leafNumber];
        return (_first[leaf], _leafCount[leaf]);
    }

    /// <summary>
    /// Repulsion on every point of leaf <paramref name="leafNumber"/>: for each, Σ_j w_ij² (y_i − y_j) and Σ_j w_ij of the
    /// Student-t kernel w = 1 / (1 + |y_i − y_j|²) over all j ≠ i, written at its tree position. The leaf's points share
    /// one walk: a cell stands for its points when size² &lt; θ²·(distance from its centre of mass to the leaf's box)²,
    /// which holds for each point of the leaf whenever it holds for the box (so at least as accurate as a walk per
    /// point); the accepted cells and single points are then summed for each point with SIMD.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Repulsion(int leafNumber, double theta2, InteractionList list, double[] fx, double[] fy, double[] z)
    {
        int leaf = _leaves[leafNumber];
        double bx0 = _minX[leaf], bx1 = _maxX[leaf], by0 = _minY[leaf], by1 = _maxY[leaf];
        list.Clear();
        int node = 0, nodes = _nodes;
        while (node < nodes)
        {
            int inLeaf = _leafCount[node];
            double cx = _comX[node], cy = _comY[node];
            double ex = cx < bx0 ? bx0 - cx : cx > bx1 ? cx - bx1 : 0;
            double ey = cy < by0 ? by0 - cy : cy > by1 ? cy - by1 : 0;
            double d2 = ex * ex + ey * ey;
            bool holdsLeaf = node <= leaf && leaf < _skip[node]; // an ancestor of the leaf: never a summary (the leaf's own points are in it)
            if (!holdsLeaf && _size2[node] < theta2 * d2) { list.Add((float)cx, (float)cy, _count[node]); node = _skip[node]; }
            else if (inLeaf > 0)
            {
                for (int s = _first[node], e = s + inLeaf; s < e; s++) list.Add((float)_px[s], (float)_py[s], 1);
                node = _skip[node];
            }
            else node++;
        }
        list.Pad();
        var lx = list.X; var ly = list.Y; var lc = list.C;
        int m = list.Count, width = Vector<float>.Count;
        for (int t = _first[leaf], end = t + _leafCount[leaf]; t < end; t++)
        {
            var xi = new Vector<float>((float)_px[t]);
            var yi = new Vector<float>((float)_py[t]);
            var one = Vector<float>.One;
            Vector<float> sx = default, sy = default, sz = default;
            for (int j = 0; j < m; j += width)
            {
                var dx = xi - new Vector<float>(lx, j);
                var dy = yi - new Vector<float>(ly, j);
                var w = one / (one + dx * dx + dy * dy);
                var cw = new Vector<float>(lc, j) * w;
                sz += cw;
                var cw2 = cw * w;
                sx += cw2 * dx; sy += cw2 * dy;
            }
            // The list holds the point itself once (its leaf and the leaf's ancestors are never summarised): w = 1 there, no force.
            fx[t] = Vector.Sum(sx); fy[t] = Vector.Sum(sy); z[t] = Vector.Sum(sz) - 1;
        }
    }
}

/// <summary>A walk's accepted cells and points (x, y, count), padded with zero counts to a multiple of the SIMD width.</summary>
internal sealed class InteractionList
{
    public float[] X = new float[256], Y = new float[256], C = new float[256];
    public int Count;

    public void Clear() => Count = 0;

    // Inlined into the walk (called once per accepted cell); the rare growth stays out of line.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(float x, float y, float c)
    {
        if (Count + Vector<float>.Count >= X.Length) Grow();
        X[Count] = x; Y[Count] = y; C[Count] = c; Count++;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        Array.Resize(ref X, X.Length * 2); Array.Resize(ref Y, Y.Length * 2); Array.Resize(ref C, C.Length * 2);
    }

    public void Pad()
    {
        while (Count % Vector<float>.Count != 0) { X[Count] = 0; Y[Count] = 0; C[Count] = 0; Count++; }
    }
}
