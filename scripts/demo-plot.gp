# The demo's plot (scripts/demo.sh): each group's connections/s, as cruisectl top measured them
# once a second, against its rate; the dry run shaded, the live `cruisectl set` marked.
#   gnuplot -e "dir='DIR'; out='BASE'; t_on=T; t_set=T; t_end=T" scripts/demo-plot.gp
# DIR holds push.dat and email.dat (columns: seconds since the workers started, rate, conn/s);
# writes BASE.png and BASE.svg. Log scale: unpaced, the workers take hundreds of connections/s.
set xlabel "seconds since the workers started"
set ylabel "connections/s (log scale)"
set logscale y
set yrange [1:*]
set xrange [0:t_end]
set grid ytics mytics lc rgb "#e0e0e0"
set key outside right top box opaque
set title "cruise demo: pgbench -C workers, dry run, then paced by cruise"

set object 1 rect from 0, graph 0 to t_on, graph 1 behind fc rgb "#fde7c8" fs solid 1.0 noborder
set label 1 "dry run:\ncounted, not paced" at t_on / 2, graph 0.93 center font ",10"
set label 2 "enforced" at t_on, graph 0.97 left offset 0.5, 0 font ",10"
set arrow 1 from t_set, graph 0 to t_set, graph 1 nohead dt 2 lw 1.5 lc rgb "#555555"
set label 3 "cruisectl set email rate=40/s" at t_set, graph 0.04 left offset 0.5, 0 font ",10"

set terminal pngcairo size 1100,550 font ",11"
set output out.".png"
plot dir."/push.dat" using 1:3 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#1f77b4" \
	title "push connections/s", \
     dir."/push.dat" using 1:2 with fsteps lw 2 dt 2 lc rgb "#1f77b4" title "push rate", \
     dir."/email.dat" using 1:3 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#d62728" \
	title "email connections/s", \
     dir."/email.dat" using 1:2 with fsteps lw 2 dt 2 lc rgb "#d62728" title "email rate"

set terminal svg size 1100,550 dynamic font "sans,11"
set output out.".svg"
replot
set output
