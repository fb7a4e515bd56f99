# The soak's plot (tests/reliability/scenarios/soak.sh):
#   gnuplot -e "csv='soak.csv'; faults='soak-faults.csv'; png='soak.png'" soak.gp
# Four panels over time: RSS, open fds, the full nodes' height lag, tx
# latency (POST /tx p99 and the probe's submission to applied); a grey
# line at every fault.
set terminal pngcairo size 1200,1000 font ",9"
set output png
set datafile separator ","
set datafile missing ""
set key autotitle columnhead outside right
set xlabel "seconds"
set grid
set multiplot layout 4,1 title "blockv2 soak: a fault every 30 s"
stats csv using 1 nooutput
set xrange [0:STATS_max]
# The fault times as vertical lines.
stats faults using 1 nooutput
nf = STATS_records
do for [i=0:nf-1] {
  stats faults every ::i::i using 1 nooutput
  set arrow from STATS_max, graph 0 to STATS_max, graph 1 nohead lc rgb "#bbbbbb" dt 2
}
set ylabel "RSS (MB)"
plot csv using 1:($2/1024) with lines title "a", \
     '' using 1:($3/1024) with lines title "b", \
     '' using 1:($4/1024) with lines title "c", \
     '' using 1:($5/1024) with lines title "da"
set ylabel "open fds"
plot csv using 1:6 with lines title "a", '' using 1:7 with lines title "b", \
     '' using 1:8 with lines title "c", '' using 1:9 with lines title "da"
set ylabel "height lag (blocks)"
plot csv using 1:11 with lines title "b (DA)", '' using 1:12 with lines title "c (P2P+DA)"
set ylabel "latency (ms)"
set logscale y
plot csv using 1:14 with lines title "POST /tx p99", \
     '' using 1:15 with points pt 7 ps 0.3 title "probe: submitted to applied"
unset multiplot
