<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE gml:Polygon [
 <!ENTITY secret SYSTEM "file:///etc/hostname">
 <!ENTITY remote SYSTEM "http://127.0.0.1:9/xxe">
]>
<gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2" srsName="EPSG:4490"><gml:name>&secret;&remote;</gml:name>
<gml:exterior><gml:LinearRing><gml:posList>117.02 36.65 117.03 36.65 117.03 36.66 117.02 36.65</gml:posList></gml:LinearRing></gml:exterior>
</gml:Polygon>
