# The plot of make bench-adaptive (scripts/bench-adaptive.sh runs it on bench_adaptive's output):
#   gnuplot -e "dir='OUTPUT/bench-adaptive'" bench/adaptive.gp     -> DIR/adaptive.svg
#   gnuplot -e "dir='...'; png=1" bench/adaptive.gp                 -> DIR/adaptive.png
# Over time (seconds since the benchmark started), one panel each: the interactive client's
# latency per second (p99, p50) against the bound (baseline p99 + 20%); the batch's connections/s
# (pgbench's count), the shift's unpaced load and the rate in force in the datapath (fixed or
# adapted); the probe's SELECT 1 latency (mean of each second) and the adaptive target. Phases
# from phases.csv: a line at each start, its number (or the sweep's rate) on top; shifts shaded.
if (!exists("dir")) dir = '.'
csv = dir.'/adaptive.csv'
phases = dir.'/phases.csv'
set datafile separator ','
set datafile columnheaders
if (exists("png")) {
	set terminal pngcairo size 1200,1000 font 'sans,10' background rgb 'white'
	set output dir.'/adaptive.png'
} else {
	set terminal svg size 1200,1000 dynamic font 'sans,12' background rgb 'white'
	set output dir.'/adaptive.svg'
}

stats csv using 1 nooutput name 'T'
set xrange [0:T_max + 1]
set multiplot
set lmargin at screen 0.08
set rmargin at screen 0.97
set grid ytics lc rgb '#dddddd'
set key top right opaque box lc rgb '#bbbbbb' font ',10'
set xtics format ''
shade = 'with boxxyerror fs transparent solid 0.15 noborder lc rgb "#d08000" noautoscale notitle'
bar = 'with vectors nohead dt 2 lc rgb "#555555" noautoscale notitle'

# 1. the interactive client's latency
set tmargin at screen 0.95
set bmargin at screen 0.66
set logscale y
set yrange [0.1:200]
set ylabel 'interactive latency ms'
set title 'make bench-adaptive: batch pgbench -C paced (none, fixed, adaptive) beside an unpaced interactive pgbench' font ',13'
plot phases using 3:(1):3:4:(0.1):(200) @shade, \
     phases using 1:(0.1):(0):(200) @bar, \
     phases using 1:(0.13):5 with labels left offset 0.3,0 font ',11' notitle, \
     csv using 1:5 with lines lw 1.5 lc rgb '#c00000' title 'p99 per second', \
     csv using 1:4 with lines lw 1 lc rgb '#3060c0' title 'p50 per second', \
     csv using 1:6 with lines dt 2 lw 1.5 lc rgb '#000000' title 'bound: baseline p99 + 20%'
unset title
unset logscale y

# 2. connections/s
set tmargin at screen 0.64
set bmargin at screen 0.35
ymax = 100000
set yrange [0:*]
set ylabel 'connections/s'
plot phases using 3:(0):3:4:(0):(ymax) @shade, \
     phases using 1:(0):(0):(ymax) @bar, \
     csv using 1:7 with lines lw 1.5 lc rgb '#208020' title 'batch (pgbench, one connection per transaction)', \
     csv using 1:8 with lines lw 1 lc rgb '#d08000' title 'shift: unpaced pgbench -C', \
     csv using 1:10 with steps lw 1.5 lc rgb '#7030a0' title 'rate in force (fixed or adapted)'

# 3. the probe
set tmargin at screen 0.33
set bmargin at screen 0.06
set xtics format '%g'
set xlabel 'seconds since the start'
set logscale y
set yrange [0.05:100]
set ylabel 'probe SELECT 1 ms'
plot phases using 3:(1):3:4:(0.05):(100) @shade, \
     phases using 1:(0.05):(0):(100) @bar, \
     csv using 1:12 with lines lw 1.5 lc rgb '#0080a0' title 'probe latency (mean of each second)', \
     csv using 1:13 with lines dt 2 lw 1.5 lc rgb '#000000' title 'adaptive target'
unset multiplot
